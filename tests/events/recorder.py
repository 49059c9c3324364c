"""Test-only idempotent event tasks that record what they handle."""

import threading

from bellamy.events.idempotency import batch_task, event_task
from bellamy.events.services import publish

#: (event id, type, key, data) of every handled envelope, in handling order.
HANDLED: list[tuple[str, str, str, dict]] = []
#: One list of event ids per call of the batch handler, in call order.
BATCHES: list[list[str]] = []
_lock = threading.Lock()

TASK_NAME = "tests.record_event_task"
BATCH_TASK_NAME = "tests.record_batch_task"


@event_task(name=TASK_NAME)
def record_event_task(envelope):
    """Append the envelope's facts to :data:`HANDLED`."""
    with _lock:
        HANDLED.append((envelope.id, envelope.type, envelope.key, envelope.data))


@batch_task(name=BATCH_TASK_NAME)
def record_batch_task(envelopes):
    """Append the batch's ids to :data:`BATCHES`, and publish one ``relationship_weight.updated``
    per envelope (a database effect in the handler's transaction: an outbox row whose data is
    ``{"from_user_id": 0, "to_user_id": 0, "weight": n, "source": event id}``).

    An envelope whose data has ``"fail": true`` makes the handler raise ``ValueError`` after
    those writes (so a test sees them rolled back). Returns the number of envelopes handled.
    """
    for n, envelope in enumerate(envelopes):
        publish("relationship_weight.updated", key=0,
                data={"from_user_id": 0, "to_user_id": 0, "weight": n, "source": envelope.id})
    with _lock:
        BATCHES.append([e.id for e in envelopes])
    failing = [e.id for e in envelopes if e.data.get("fail")]
    if failing:
        raise ValueError(f"cannot handle {failing[0]}")
    return len(envelopes)
