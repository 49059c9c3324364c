"""The data export API (README "Account lifecycle"):

- ``POST /api/users/me/export`` → 202 the new job; 429 ``export_rate_limited`` with
  ``Retry-After`` when the caller asked less than ``BELLAMY_EXPORT_INTERVAL_HOURS`` ago;
- ``GET /api/users/me/export`` → 200 the caller's latest job (with its download link once
  ready); 404 ``export_not_found`` when they never asked;
- ``GET /api/exports/{id}/download?token=`` → the zip (no bearer token: the signed link is the
  credential, so a browser can follow it); 404 for an unknown job or a bad token, 410
  ``export_expired`` after expiry, 400 without ``token``.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from bellamy.accounts.api.serializers import ErrorSerializer
from exports import selectors, services
from exports.api.serializers import DownloadQuerySerializer, ExportJobSerializer

ERROR = OpenApiResponse(ErrorSerializer)


class MyExportView(APIView):
    """POST starts an export of the caller's data; GET shows the latest one."""

    @extend_schema(
        request=None,
        responses={202: ExportJobSerializer, 401: ERROR, 429: OpenApiResponse(ErrorSerializer, description=(
            "One export per BELLAMY_EXPORT_INTERVAL_HOURS: Retry-After says when to ask again."))},
        description=(
            "Start an export of the caller's data: a zip of JSON files (profile, posts, comments, likes, "
            "friends, notifications). When it is ready the caller gets an `export_ready` notification "
            "(pushed if online); `GET /api/users/me/export` then carries a signed `download_url`, valid until "
            "`expires_at` (BELLAMY_EXPORT_EXPIRY_HOURS)."
        ),
    )
    def post(self, request):
        job = services.export_request(user=request.user)
        return Response(ExportJobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: ExportJobSerializer, 401: ERROR, 404: ERROR})
    def get(self, request):
        job = selectors.latest_export(request.user.pk)
        if job is None:
            raise services.ExportNotFound("You have not requested an export.")
        return Response(ExportJobSerializer(job, context={"request": request}).data)


class ExportDownloadView(APIView):
    """GET /api/exports/{id}/download?token= → the archive (``application/zip``)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        parameters=[OpenApiParameter("token", str, required=True, description="The signed token of the link.")],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The zip archive."),
            400: OpenApiResponse(description="Missing token."), 404: ERROR, 410: ERROR,
        },
        auth=[],
    )
    def get(self, request, job_id):
        query = DownloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        job = services.export_for_download(job_id=str(job_id), token=query.validated_data["token"])
        response = FileResponse(
            default_storage.open(job.archive, "rb"), as_attachment=True,
            filename=f"bellamy-export-{job.created_at:%Y%m%d}.zip", content_type="application/zip",
        )
        response["Cache-Control"] = "private, no-store"
        return response
