"""Effectively-once handling of at-least-once events, a batch at a time.

Kafka redelivers after a crash or rebalance, the relay may send a row twice when a bus
acknowledgement is lost, and the task broker redelivers a task whose worker died, so every
event task records ``(event id, task name)`` once, in the same transaction as its database
effects, and skips what it already handled (ARCHITECTURE.md §4, §11).

The unit is a **batch**: a task receives a list of envelope dicts (the forwarder hands each route
the events of one poll; a single event is a batch of one). :func:`batch_task` claims the whole
batch in one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` statement (PostgreSQL, and SQLite
≥ 3.35 for the embedded default), and calls the handler with only the envelopes that statement
inserted, in delivery order, inside the same ``transaction.atomic()``: the claim and the
handler's writes commit together or not at all. Two workers handling overlapping batches at
once serialise on the unique index (the second waits for the first to commit, then skips what
it inserted); rows are inserted in event-id order so two such batches cannot deadlock.

:func:`event_task` (one envelope per handler call) is built on the same path: it loops over the
new envelopes of a batch in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connections, router, transaction
from django.utils import timezone

from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.errors import EnvelopeDecodeError
from bellamy.events.models import ProcessedEvent

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Most rows per claim statement (a batch is bounded well below this; it keeps any batch under
#: the bind-parameter limits of PostgreSQL and SQLite).
CLAIM_CHUNK = 2000


def _claim_sql(connection, rows: int) -> str:
    meta = ProcessedEvent._meta
    qn = connection.ops.quote_name
    columns = ", ".join(qn(meta.get_field(name).column) for name in ("event_id", "task_name", "processed_at"))
    conflict = ", ".join(qn(meta.get_field(name).column) for name in ("event_id", "task_name"))
    values = ", ".join(["(%s, %s, %s)"] * rows)
    return (
        f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES {values} "
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {qn(meta.get_field('event_id').column)}"
    )


def claim(event_ids: Sequence[str], task_name: str) -> set[str]:
    """Record ``(event id, task_name)`` for every id not recorded yet; return those it recorded.

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING`` statement per :data:`CLAIM_CHUNK` ids (one
    for any batch the forwarder builds). Call it inside the transaction of the handler's effects:
    a rollback un-claims. A row another open transaction is inserting makes this one wait for
    it (unique index), so concurrent duplicates serialise.

    Args:
        event_ids: envelope ids (UUID strings); duplicates allowed.
        task_name: the task's registered name.
    Returns:
        The ids (as given) that were not handled before.
    """
    if not event_ids:
        return set()
    alias = router.db_for_write(ProcessedEvent)
    connection = connections[alias]
    if not connection.features.can_return_rows_from_bulk_insert:
        raise RuntimeError(f"database {connection.vendor} cannot INSERT … RETURNING (SQLite ≥ 3.35 or PostgreSQL)")
    meta = ProcessedEvent._meta
    id_field, name_field, at_field = (meta.get_field(n) for n in ("event_id", "task_name", "processed_at"))
    by_uuid = {uuid.UUID(event_id): event_id for event_id in event_ids}
    now = at_field.get_db_prep_save(timezone.now(), connection)
    name = name_field.get_db_prep_save(task_name, connection)
    # Sorted, so two transactions claiming overlapping batches take the index locks in one order.
    ordered = sorted(by_uuid)
    claimed: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), CLAIM_CHUNK):
            chunk = ordered[start:start + CLAIM_CHUNK]
            params: list[Any] = []
            for event_uuid in chunk:
                params += [id_field.get_db_prep_save(event_uuid, connection), name, now]
            cursor.execute(_claim_sql(connection, len(chunk)), params)
            claimed.update(by_uuid[uuid.UUID(str(row[0]))] for row in cursor.fetchall())
    return claimed


def run_batch(task_name: str, envelopes: Sequence[Envelope],
              handler: Callable[[list[Envelope]], T]) -> tuple[list[Envelope], T | None]:
    """Claim ``envelopes`` for ``task_name`` and call ``handler`` with the new ones, atomically.

    Args:
        task_name: the task's registered name (the idempotency record's second half).
        envelopes: the batch in delivery order; an id repeated within it counts once (its first
            occurrence).
        handler: ``handler(new envelopes)``; its database writes commit with the claim.
    Returns:
        ``(new envelopes in delivery order, handler's result)``; ``([], None)`` without calling
        the handler when every envelope was handled before.
    Raises:
        Whatever ``handler`` raises; then nothing of the batch is recorded (a retry runs it again).
    """
    with transaction.atomic(using=router.db_for_write(ProcessedEvent)):
        claimed = claim([e.id for e in envelopes], task_name)
        new: list[Envelope] = []
        for envelope in envelopes:
            if envelope.id in claimed:
                claimed.discard(envelope.id)
                new.append(envelope)
        skipped = len(envelopes) - len(new)
        if skipped:
            logger.info("%s: %d of %d event(s) already handled; skipped", task_name, skipped, len(envelopes))
        if not new:
            return [], None
        return new, handler(new)


def run_once(event_id: str, task_name: str, func: Callable[[], T]) -> tuple[bool, T | None]:
    """Run ``func`` unless ``task_name`` already handled ``event_id`` (a batch of one id).

    Returns:
        ``(True, func's result)`` when it ran, ``(False, None)`` for a repeat.
    """
    with transaction.atomic(using=router.db_for_write(ProcessedEvent)):
        if not claim([event_id], task_name):
            logger.info("%s already handled event %s; skipped", task_name, event_id)
            return False, None
        return True, func()


def decode_batch(payload: Any) -> list[Envelope]:
    """The envelopes of a task argument: a list of envelope dicts, or one envelope dict (a batch
    of one, as enqueued by releases before batches and by direct calls in tests).

    Raises:
        EnvelopeDecodeError: not a dict or a list of dicts, or an invalid envelope in it.
    """
    if isinstance(payload, dict):
        return [Envelope.from_dict(payload)]
    if isinstance(payload, list | tuple):
        return [Envelope.from_dict(item) for item in payload]
    raise EnvelopeDecodeError(f"a task takes a list of envelopes, got {type(payload).__name__}")


def _copy_identity(target, func) -> None:
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(target, attribute, getattr(func, attribute, None))


def batch_task(name: str, **celery_options: Any) -> Callable[[Callable[[list[Envelope]], Any]], Any]:
    """Decorator: register ``func(envelopes)`` as an idempotent batch task called ``name``.

    The Celery task takes one argument, a list of envelope dicts (``dispatch_batch`` builds it;
    a single dict is accepted as a batch of one). It decodes them, claims every
    ``(event id, name)`` pair in one statement, and calls ``func`` with only the envelopes not
    handled before, in delivery order, inside the same transaction; when none is new ``func`` is
    not called. The undecorated function stays reachable as ``task.handler`` for direct tests.

    Args:
        name: the stable task name used in ``bellamy/events/routes.py`` (``<app>.<action>_task``).
        celery_options: extra ``app.task`` options.
    Returns:
        The Celery task; calling it returns ``func``'s result, or ``None`` when nothing was new.
    """

    def decorator(func: Callable[[list[Envelope]], Any]):
        def run(self, payload: Any) -> Any:
            _new, result = run_batch(name, decode_batch(payload), func)
            return result

        _copy_identity(run, func)
        task = app.task(name=name, bind=True, **celery_options)(run)
        task.handler = func
        return task

    return decorator


def event_task(name: str, **celery_options: Any) -> Callable[[Callable[[Envelope], Any]], Any]:
    """Decorator: register the per-event handler ``func(envelope)`` as an idempotent batch task.

    Built on :func:`batch_task`: the task claims its whole batch in one statement and calls
    ``func`` once per new envelope, in delivery order, in that one transaction (a failure rolls
    the whole batch back). Handlers written this way keep working until they are converted to
    bulk handlers. ``task.handler`` is the undecorated ``func``.

    Args:
        name: the stable task name used in ``bellamy/events/routes.py``.
        celery_options: extra ``app.task`` options.
    Returns:
        The Celery task. Called with one envelope dict it returns ``func``'s result (``None``
        for a repeat); with a list, one result per envelope of the list (``None`` for repeats).
    """

    def decorator(func: Callable[[Envelope], Any]):
        def run(self, payload: Any) -> Any:
            envelopes = decode_batch(payload)
            results: dict[str, Any] = {}

            def each(new: list[Envelope]) -> None:
                for envelope in new:
                    results[envelope.id] = func(envelope)

            run_batch(name, envelopes, each)
            if isinstance(payload, dict):
                return results.get(envelopes[0].id)
            return [results.pop(e.id, None) for e in envelopes]

        _copy_identity(run, func)
        task = app.task(name=name, bind=True, **celery_options)(run)
        task.handler = func
        return task

    return decorator
