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

Failures (on a worker; eager and direct calls raise as usual, so the embedded default and tests
see errors at once and the outbox keeps the events unsent). :func:`execute` runs every attempt in
its own transaction and sorts a failure with :func:`bellamy.events.failures.classify`:

* transient (a service down or overloaded): retried **in place** with exponential back-off for
  ``BELLAMY_TASK_RETRY_BUDGET`` seconds, so a later batch of the queue never overtakes it;
* PostgreSQL unreachable (or "too many clients"): retried for as long as it lasts;
* permanent, or the budget exhausted: the batch is split in halves until the failing events are
  isolated, the others are handled, and each failing part becomes one
  :class:`~bellamy.events.models.DeadLetter` with its reason (``manage.py events_dead_letters``).
  If the dead letter itself cannot be stored, the batch is kept and retried.

The message is acknowledged only when the task returns (``CELERY_TASK_ACKS_LATE``): a worker
killed mid-batch has it redelivered, and the records make the rerun skip what was committed.
While the task runs, its delivery is kept visible (:mod:`bellamy.events.delivery`), so a long
batch or a long retry is not handed out a second time.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.db import connections, router, transaction
from django.utils import timezone

from bellamy import metrics
from bellamy.celery import app
from bellamy.events.delivery import keep_visible
from bellamy.events.envelope import Envelope
from bellamy.events.errors import EnvelopeDecodeError
from bellamy.events.failures import Failure, RetryPolicy, classify, is_database_error
from bellamy.events.models import ProcessedEvent

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Most rows per claim statement (a batch is bounded well below this; it keeps any batch under
#: SQLite's bind-parameter limit).
CLAIM_CHUNK = 2000


def _claim_sql(connection, rows: int) -> str:
    """The claim statement for ``rows`` ids. PostgreSQL gets the ids as one array parameter
    (``unnest``): a statement with thousands of placeholders costs more to build and parse than
    to run. SQLite gets a ``VALUES`` list."""
    meta = ProcessedEvent._meta
    qn = connection.ops.quote_name
    columns = ", ".join(qn(meta.get_field(name).column) for name in ("event_id", "task_name", "processed_at"))
    conflict = ", ".join(qn(meta.get_field(name).column) for name in ("event_id", "task_name"))
    if connection.vendor == "postgresql":
        rows_sql = "SELECT unnest(%s::uuid[]), %s, %s ORDER BY 1"
    else:
        rows_sql = "VALUES " + ", ".join(["(%s, %s, %s)"] * rows)
    return (
        f"INSERT INTO {qn(meta.db_table)} ({columns}) {rows_sql} "
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {qn(meta.get_field('event_id').column)}"
    )


def claim(event_ids: Sequence[str], task_name: str) -> set[str]:
    """Record ``(event id, task_name)`` for every id not recorded yet; return those it recorded.

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING`` statement per :data:`CLAIM_CHUNK` ids (one
    for any batch the forwarder builds), inserting in event-id order. Call it inside the transaction of the handler's effects:
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
            params: list[Any]
            if connection.vendor == "postgresql":
                params = [chunk, name, now]
            else:
                params = []
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


def _close_broken_connections() -> None:
    """Close the database connections (outside any transaction) after a database error, so the
    next attempt connects afresh instead of reusing a broken one."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


class _Execution:
    """The retry and dead-letter policy of one task message (see the module docstring)."""

    def __init__(self, task_name: str, queue: str, policy: RetryPolicy, sleep: Callable[[float], None]):
        self.task_name, self.queue, self.policy, self.sleep = task_name, queue, policy, sleep

    def run(self, envelopes: list[Envelope], handler: Callable[[list[Envelope]], Any]) -> Any:
        attempts = 0
        first_failed_at: datetime | None = None
        transient_since: float | None = None  # the budget runs from the first transient error
        while True:
            try:
                return run_batch(self.task_name, envelopes, handler)[1]
            except Exception as exc:
                attempts += 1
                kind = classify(exc)
                if is_database_error(exc):
                    _close_broken_connections()
                first_failed_at = first_failed_at or timezone.now()
                if kind is Failure.TRANSIENT and transient_since is None:
                    transient_since = time.monotonic()
                elapsed = time.monotonic() - transient_since if transient_since is not None else 0.0
                if kind is Failure.PERMANENT and len(envelopes) > 1:
                    logger.warning("%s: a batch of %d failed (%s: %s); splitting it to isolate the failing events",
                                   self.task_name, len(envelopes), type(exc).__name__, exc)
                    middle = len(envelopes) // 2
                    self.run(envelopes[:middle], handler)
                    self.run(envelopes[middle:], handler)
                    return None
                if kind is Failure.DATABASE_UNAVAILABLE or (
                    kind is Failure.TRANSIENT and elapsed < self.policy.budget
                ):
                    delay = self.policy.delay(attempts)
                    logger.warning("%s: attempt %d on %d event(s) failed (%s, %s: %s); retrying in %.1f s",
                                   self.task_name, attempts, len(envelopes), kind.value, type(exc).__name__, exc, delay)
                    # In place, not task.retry(): Celery's task_retry signal does not see it.
                    metrics.task_retried(queue=self.queue, task=self.task_name)
                    self.sleep(delay)
                    continue
                if self._dead_letter([e.to_dict() for e in envelopes], exc, attempts, first_failed_at):
                    return None
                self.sleep(self.policy.delay(attempts))  # not stored: keep the batch, try it again

    def _dead_letter(self, payload: Any, error: BaseException, attempts: int, first_failed_at: datetime) -> bool:
        """Store ``payload`` (the failing part of the batch) as a dead letter; False if it could not
        be stored."""
        from bellamy.events.services import dead_letter_record

        try:
            dead_letter_record(task_name=self.task_name, queue=self.queue, payload=payload, error=error,
                               attempts=attempts, first_failed_at=first_failed_at)
        except Exception as exc:
            if is_database_error(exc):
                _close_broken_connections()
            logger.exception("%s: could not store the dead letter of %d event(s); the batch is kept",
                             self.task_name, len(payload) if isinstance(payload, list) else 1)
            return False
        metrics.dead_lettered("task")
        return True


def execute(task_name: str, envelopes: list[Envelope], handler: Callable[[list[Envelope]], T], *,
            queue: str = "", policy: RetryPolicy | None = None,
            sleep: Callable[[float], None] = time.sleep) -> T | None:
    """Handle a batch as a worker does: :func:`run_batch` with retries and dead letters.

    Args:
        task_name: the task's registered name.
        envelopes: the batch in delivery order.
        handler: ``handler(new envelopes)``.
        queue: the queue the batch came from (kept on a dead letter).
        policy: the back-off and budget (default: from settings).
        sleep: the pause between attempts (``time.sleep``).
    Returns:
        The handler's result; ``None`` when nothing was new, or when (part of) the batch was
        dead-lettered.
    Raises:
        Nothing from the handler: every failure is retried or dead-lettered.
    """
    return _Execution(task_name, queue, policy or RetryPolicy.from_settings(), sleep).run(list(envelopes), handler)


def _on_worker(task) -> bool:
    """True when ``task`` runs for a broker delivery (not eagerly, not called directly)."""
    request = task.request
    return not (request.is_eager or request.called_directly)


def _run_task(task, task_name: str, payload: Any, handler: Callable[[list[Envelope]], T]) -> T | None:
    if not _on_worker(task):
        return run_batch(task_name, decode_batch(payload), handler)[1]
    queue = (task.request.delivery_info or {}).get("routing_key") or ""
    execution = _Execution(task_name, queue, RetryPolicy.from_settings(), time.sleep)
    with keep_visible(task):  # a long batch or retries in place are not redelivered meanwhile
        try:
            envelopes = decode_batch(payload)
        except EnvelopeDecodeError as exc:  # cannot succeed on a retry: keep it for an operator
            logger.error("%s: payload is not a list of envelopes: %s", task_name, exc)
            while not execution._dead_letter(payload, exc, 1, timezone.now()):
                time.sleep(execution.policy.max_delay)
            return None
        return execution.run(envelopes, handler)


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
            return _run_task(self, name, payload, func)

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
        for a repeat); with a list, one result per envelope of the list (``None`` for events
        handled before, or dead-lettered on a worker).
    """

    def decorator(func: Callable[[Envelope], Any]):
        def run(self, payload: Any) -> Any:
            results: dict[str, Any] = {}

            def each(new: list[Envelope]) -> None:
                for envelope in new:
                    results[envelope.id] = func(envelope)

            _run_task(self, name, payload, each)
            if isinstance(payload, dict):
                return results.get(payload.get("id"))
            if not isinstance(payload, list):
                return None
            return [results.get(item.get("id")) if isinstance(item, dict) else None for item in payload]

        _copy_identity(run, func)
        task = app.task(name=name, bind=True, **celery_options)(run)
        task.handler = func
        return task

    return decorator
