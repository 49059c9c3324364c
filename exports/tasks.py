"""Tasks of the data export (queue ``default``): build an archive, expire old ones (beat), and
the exports' handler of ``user.deleted``."""

from __future__ import annotations

from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import batch_task
from exports import services


@app.task(name="exports.build_export_task")
def build_export_task(job_id: str) -> str | None:
    """Build the archive of export ``job_id`` (:func:`exports.services.export_build`). Returns
    the job's final status, or ``None`` when there was nothing to do."""
    job = services.export_build(job_id=job_id)
    return job.status if job else None


@app.task(name="exports.expire_exports_task")
def expire_exports_task() -> int:
    """Beat task (hourly): delete the expired archives. Returns how many."""
    return services.exports_expire()


@batch_task("exports.user_deleted_task")
def user_deleted_task(envelopes: list[Envelope]) -> int:
    """``user.deleted`` ``{user_id}`` → delete the users' export jobs and archives. Returns how
    many jobs were deleted."""
    return services.exports_user_erase(user_ids=[int(e.data["user_id"]) for e in envelopes])
