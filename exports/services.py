"""Writes of the data export (README "Account lifecycle").

``POST /api/users/me/export`` calls :func:`export_request`: a job is recorded and, after commit,
``exports.build_export_task`` builds the archive (:func:`export_build`): six JSON files in a zip
(:mod:`exports.selectors`), stored with Django's default storage under ``exports/<job id>.zip``.
When it is stored the user gets an ``export_ready`` notification (pushed if online); the
download link (``GET /api/users/me/export``) is signed and expires with the archive after
``BELLAMY_EXPORT_EXPIRY_HOURS``, when the beat deletes it (:func:`exports_expire`). One export
per ``BELLAMY_EXPORT_INTERVAL_HOURS`` per user (429 with ``Retry-After`` before). An erased
account's jobs and archives are deleted by its ``user.deleted`` handler.

Nothing here publishes events.
"""

from __future__ import annotations

import logging
import math
import tempfile
import zipfile
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, Throttled

from exports import selectors
from exports.models import ExportJob
from notifications.services import notification_export_ready

logger = logging.getLogger(__name__)

#: Salt of the download links' signatures (a token signed for anything else never verifies).
SIGNING_SALT = "bellamy.exports.download"


class ExportGone(APIException):
    """410: the archive expired (or the link did); ask for a new export."""

    status_code = status.HTTP_410_GONE
    default_detail = "This export has expired; request a new one."
    default_code = "export_expired"


class ExportNotFound(APIException):
    """404: no such export, or the link is not valid for it (never revealing which)."""

    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "No such export."
    default_code = "export_not_found"


def expiry() -> timedelta:
    """How long an archive stays downloadable (``BELLAMY_EXPORT_EXPIRY_HOURS``, default 168)."""
    return timedelta(hours=settings.BELLAMY_EXPORT_EXPIRY_HOURS)


def interval() -> timedelta:
    """The least time between two export requests (``BELLAMY_EXPORT_INTERVAL_HOURS``, default 24)."""
    return timedelta(hours=settings.BELLAMY_EXPORT_INTERVAL_HOURS)


def export_request(*, user) -> ExportJob:
    """Record an export of ``user``'s data and queue the task that builds it (after commit).

    The user's row is locked for the check, so two requests at once cannot both pass it.

    Returns:
        The new ``pending`` :class:`ExportJob`.
    Raises:
        rest_framework.exceptions.Throttled: the user asked less than
            :func:`interval` ago (failed jobs do not count): 429 ``export_rate_limited`` with
            ``Retry-After`` = seconds until they may ask again.
    Events:
        None.
    """
    from exports.tasks import build_export_task

    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).exists()
        last = selectors.last_counted_export(user.pk)
        now = timezone.now()
        if last is not None and last.created_at + interval() > now:
            wait = math.ceil((last.created_at + interval() - now).total_seconds())
            raise Throttled(
                wait=wait,
                detail=f"You can request one export every {settings.BELLAMY_EXPORT_INTERVAL_HOURS} hours.",
                code="export_rate_limited",
            )
        job = ExportJob.objects.create(user=user, created_at=now)
        job_id = str(job.pk)
        transaction.on_commit(lambda: build_export_task.delay(job_id), robust=True)
    return job


def _write_array(archive: zipfile.ZipFile, name: str, items) -> int:
    """Write ``items`` (dicts) to ``name`` in ``archive`` as a JSON array, streaming."""
    count = 0
    with archive.open(name, "w") as out:
        out.write(b"[")
        for item in items:
            out.write(b"\n" if count == 0 else b",\n")
            out.write(orjson.dumps(item))
            count += 1
        out.write(b"\n]\n" if count else b"]\n")
    return count


def export_build(*, job_id: str) -> ExportJob | None:
    """Build and store the archive of export ``job_id``, then notify its user.

    Idempotent under redelivery: a job already ``ready``, ``expired`` or ``failed`` is left as it
    is; a ``running`` one (its worker died) is built again. Any error marks the job ``failed``
    with the error (logged, not raised: a retry would fail the same way).

    Returns:
        The job (``ready`` or ``failed``), or ``None`` when there is no such job or it was done.
    Events:
        None; the ``export_ready`` notification is stored and pushed by
        :func:`notifications.services.notification_export_ready`.
    """
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().select_related("user").filter(pk=job_id).first()
        if job is None or job.status not in (ExportJob.Status.PENDING, ExportJob.Status.RUNNING):
            return None
        job.status, job.started_at = ExportJob.Status.RUNNING, timezone.now()
        job.save(update_fields=["status", "started_at"])
    user = job.user
    name = f"exports/{job.pk}.zip"
    try:
        with tempfile.TemporaryFile() as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("profile.json", orjson.dumps(selectors.profile(user), option=orjson.OPT_APPEND_NEWLINE))
                _write_array(archive, "posts.json", selectors.posts(user.pk))
                _write_array(archive, "comments.json", selectors.comments(user.pk))
                _write_array(archive, "likes.json", selectors.likes(user.pk))
                _write_array(archive, "friends.json", selectors.friends(user.pk))
                _write_array(archive, "notifications.json", selectors.notifications(user.pk))
            size = raw.tell()
            raw.seek(0)
            if default_storage.exists(name):  # a rebuild after a crash
                default_storage.delete(name)
            stored = default_storage.save(name, File(raw, name=name))
    except Exception as exc:  # noqa: BLE001 — the job records any failure
        logger.exception("export %s of user %s failed", job.pk, user.pk)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000],
                                                   completed_at=timezone.now())
        job.refresh_from_db()
        return job
    now = timezone.now()
    with transaction.atomic():
        updated = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(
            status=ExportJob.Status.READY, archive=stored, size=size, completed_at=now, expires_at=now + expiry()
        )
        if updated:
            notification_export_ready(export_id=str(job.pk), user_id=user.pk, at=now)
    if not updated:  # the account was erased meanwhile: its job is gone, so is the archive
        default_storage.delete(stored)
        return None
    job.refresh_from_db()
    return job


def download_token(job: ExportJob) -> str:
    """The signed token of ``job``'s download link (timestamped: it expires with the archive)."""
    return signing.TimestampSigner(salt=SIGNING_SALT).sign(str(job.pk))


def export_for_download(*, job_id: str, token: str) -> ExportJob:
    """The ready job ``job_id`` whose download ``token`` is valid, for streaming its archive.

    Raises:
        ExportNotFound: unknown job, a token not signed for this job, or an account that is
            no longer active (404 ``export_not_found``).
        ExportGone: the token or the archive expired (410 ``export_expired``).
    """
    signer = signing.TimestampSigner(salt=SIGNING_SALT)
    try:
        signed_id = signer.unsign(token, max_age=expiry())
    except signing.SignatureExpired:
        raise ExportGone() from None
    except signing.BadSignature:
        raise ExportNotFound() from None
    if signed_id != str(job_id):
        raise ExportNotFound()
    job = ExportJob.objects.select_related("user").filter(pk=job_id).first()
    if job is None or not job.user.is_active:
        raise ExportNotFound()
    if job.status == ExportJob.Status.EXPIRED or (job.expires_at is not None and job.expires_at <= timezone.now()):
        raise ExportGone()
    if job.status != ExportJob.Status.READY:
        raise ExportNotFound()
    return job


def exports_expire(*, now: datetime | None = None) -> int:
    """Delete the archives whose time is up and mark their jobs ``expired`` (beat, hourly).

    Returns:
        How many archives were deleted.
    """
    now = now or timezone.now()
    expired = 0
    for job in ExportJob.objects.filter(status=ExportJob.Status.READY, expires_at__lte=now).order_by("expires_at"):
        if job.archive:
            default_storage.delete(job.archive)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.EXPIRED, archive="")
        expired += 1
    return expired


def exports_user_erase(*, user_ids: list[int]) -> int:
    """``user.deleted``: delete every export job of the users and their archives.

    Returns:
        How many jobs were deleted.
    """
    jobs = list(ExportJob.objects.filter(user_id__in=user_ids))
    for job in jobs:
        if job.archive:
            default_storage.delete(job.archive)
        # An archive being written right now is named after its job: delete it too.
        default_storage.delete(f"exports/{job.pk}.zip")
    deleted, _ = ExportJob.objects.filter(pk__in=[job.pk for job in jobs]).delete()
    return deleted
