"""Helpers of the scoring and trending tests: deliver published events to one worker's tasks.

Tests run inside a transaction that never commits, so the outbox relay never fires; these
helpers take the envelopes the services wrote to the outbox and run the tasks a routing block
names for them, exactly as the forwarder would (same envelope dict, same task names).
"""

from __future__ import annotations

from bellamy.celery import app
from bellamy.events.models import OutboxEvent


def deliver(routes: dict, *, after_id: int = 0) -> int:
    """Run the tasks of ``routes`` for every outbox row with id > ``after_id``, in order.

    Returns:
        The id of the last outbox row seen (pass it as ``after_id`` next time).
    """
    import feed.tasks  # noqa: F401  (register the tasks)
    import trends.tasks  # noqa: F401

    last = after_id
    for row in OutboxEvent.objects.filter(id__gt=after_id).order_by("id"):
        for route in routes.get(row.type, ()):
            app.tasks[route.task](row.payload)
        last = row.id
    return last


def events(event_type: str) -> list[dict]:
    """The ``data`` of every outbox row of ``event_type``, in publication order."""
    return [row.payload["data"] for row in OutboxEvent.objects.filter(type=event_type).order_by("id")]
