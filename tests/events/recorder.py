"""A test-only idempotent event task that records each envelope it handles."""

import threading

from bellamy.events.idempotency import event_task

#: (event id, type, key, data) of every handled envelope, in handling order.
HANDLED: list[tuple[str, str, str, dict]] = []
_lock = threading.Lock()

TASK_NAME = "tests.record_event_task"


@event_task(name=TASK_NAME)
def record_event_task(envelope):
    """Append the envelope's facts to :data:`HANDLED`."""
    with _lock:
        HANDLED.append((envelope.id, envelope.type, envelope.key, envelope.data))
