"""A user's data export: one job per request, its zip archive kept for a limited time.

Written only by :mod:`exports.services`. The archive lives in the project's file storage
(Django's default storage: ``MEDIA_ROOT``, ``BELLAMY_MEDIA_ROOT``) under ``exports/`` and is
never served as a static file: only :class:`exports.api.views.ExportDownloadView` serves it,
behind a signed link that expires with the job.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ExportJob(models.Model):
    """One export of ``user``'s data.

    Lifecycle: ``pending`` (requested, the task is queued) → ``running`` → ``ready`` (the
    archive is stored; downloadable until ``expires_at``) → ``expired`` (the archive deleted), or
    ``failed`` (``error`` says why; a failed job does not count against the rate limit).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    #: The archive's name in the default storage (``exports/<id>.zip``), empty until ready and
    #: after expiry.
    archive = models.CharField(max_length=200, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Archive size in bytes.")
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # A user's latest job (the API, the rate limit).
            models.Index(fields=["user", "-created_at"], name="exports_job_user_created"),
            # The expiry sweep.
            models.Index(fields=["expires_at"], condition=Q(status="ready"), name="exports_job_ready_expiry"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "ready", "failed", "expired"]),
                name="exports_job_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} of user {self.user_id} ({self.status})"
