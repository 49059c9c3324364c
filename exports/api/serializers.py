"""Serializers of the data export API (README "Account lifecycle")."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from exports.models import ExportJob
from exports.services import download_token


class ExportJobSerializer(serializers.ModelSerializer):
    """``{id, status, created_at, completed_at, expires_at, size, download_url}``.

    ``status`` ∈ ``pending, running, ready, failed, expired``; ``download_url`` is an absolute,
    signed link, valid until ``expires_at``, only while ``status`` is ``ready`` (else null);
    ``size`` is the archive's size in bytes once ready.
    """

    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = ("id", "status", "created_at", "completed_at", "expires_at", "size", "download_url")
        read_only_fields = fields

    def get_download_url(self, job: ExportJob) -> str | None:
        if job.status != ExportJob.Status.READY:
            return None
        path = reverse("export-download", kwargs={"job_id": job.pk})
        url = f"{path}?token={download_token(job)}"
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class DownloadQuerySerializer(serializers.Serializer):
    """``?token=<signed token>`` of a download link."""

    token = serializers.CharField(max_length=200)
