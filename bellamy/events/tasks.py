"""Periodic tasks of the event backbone (run by ``celery beat``, see ``CELERY_BEAT_SCHEDULE``)."""

from bellamy.celery import app
from bellamy.events import services


@app.task(name="events.relay_outbox_task")
def relay_outbox_task(batch_size: int = 500) -> dict:
    """Sweep: send every unsent outbox row. Returns ``{"sent", "failed", "held"}`` counts."""
    result = services.relay_all_pending(batch_size=batch_size, max_batches=20)
    return {"sent": result.sent, "failed": result.failed, "held": result.held}


@app.task(name="events.prune_outbox_task")
def prune_outbox_task() -> dict:
    """Delete sent outbox rows past retention. Returns ``{"outbox", "processed"}`` deleted counts."""
    outbox, processed = services.prune_outbox()
    return {"outbox": outbox, "processed": processed}
