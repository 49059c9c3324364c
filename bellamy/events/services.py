"""Writes of the event backbone: ``publish()``, the outbox relay, pruning, and dead letters.

Flow (ARCHITECTURE.md §4): a domain service calls :func:`publish` inside its transaction;
the envelope becomes an :class:`~bellamy.events.models.OutboxEvent` row; after commit the
row is relayed to the configured bus (Kafka, or in-process dispatch) and marked sent. Rows
the after-commit relay could not send (bus down, process killed) are sent by the periodic
sweep (``manage.py relay_events`` / ``events.relay_outbox_task``), oldest first per key.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import traceback
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min
from django.utils import timezone

from bellamy import metrics
from bellamy.backends import get_backend
from bellamy.events.envelope import Envelope
from bellamy.events.errors import EventPayloadError, UnknownEventType
from bellamy.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from bellamy.events.registry import is_registered

logger = logging.getLogger(__name__)


def publish(event_type: str, *, key: str | int, data: dict[str, Any], actor_id: int | None = None) -> Envelope:
    """Record an event in the outbox, in the caller's transaction; it is sent after commit.

    A rolled-back transaction therefore publishes nothing, and a committed one always
    publishes (the sweep retries what the after-commit relay could not send).

    Args:
        event_type: a registered type (``bellamy.events.registry.EVENT_TYPES``).
        key: ordering key (author id for post events); events of one key are delivered in order.
        data: JSON-serialisable dict of ids and small facts.
        actor_id: the user who acted, if any.
    Returns:
        The envelope as it will be delivered.
    Raises:
        UnknownEventType: ``event_type`` is not registered.
        EventPayloadError: ``data`` is not JSON-serialisable or its envelope is larger than
            ``BELLAMY_EVENT_MAX_BYTES``.
    """
    if not is_registered(event_type):
        raise UnknownEventType(f"event type {event_type!r} is not registered")
    if not isinstance(data, dict):
        raise EventPayloadError(f"{event_type}: data must be a dict, got {type(data).__name__}")
    envelope = Envelope(type=event_type, key=str(key), data=data, actor_id=actor_id)
    encoded = envelope.encode()
    if len(encoded) > settings.BELLAMY_EVENT_MAX_BYTES:
        raise EventPayloadError(
            f"{event_type}: envelope is {len(encoded)} bytes, over the limit of "
            f"{settings.BELLAMY_EVENT_MAX_BYTES} (BELLAMY_EVENT_MAX_BYTES)"
        )
    row = OutboxEvent.objects.create(
        event_id=envelope.id, type=event_type, key=envelope.key, payload=orjson.loads(encoded)
    )
    pending = getattr(_pending, "ids", None)
    if pending is None:
        pending = _pending.ids = []
    pending.append(row.id)
    transaction.on_commit(_relay_pending_after_commit, robust=True)
    return envelope


#: Outbox row ids published by this thread and not yet relayed. The first after-commit
#: callback of a transaction relays all of them in one pass (one bus round trip for a
#: transaction that published many events); the later callbacks find the list empty. Ids of
#: rows rolled back with a savepoint simply match nothing.
_pending = threading.local()


def _relay_pending_after_commit() -> None:
    ids = getattr(_pending, "ids", None)
    if not ids:
        return
    _pending.ids = []
    if settings.BELLAMY_OUTBOX_RELAY == "background":
        _background_relay.submit(ids)
    else:
        relay_outbox(ids=ids, limit=len(ids))


class BackgroundRelay:
    """A daemon thread per process that relays committed outbox rows off the request path.

    ``BELLAMY_OUTBOX_RELAY=background`` (the default with Kafka): a request returns as soon as
    its transaction commits; this thread gathers the ids committed by every request since its
    last pass (up to :attr:`max_batch`) and relays them in one pass — one lock query, one bus
    round trip and one update for many requests. Nothing is lost if the process dies with ids
    queued: the rows are in the outbox and the periodic sweep sends them.
    """

    max_batch = 500

    def __init__(self):
        self._queue: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, ids: list[int]) -> None:
        """Queue ``ids`` (committed outbox rows) for the next pass; starts the thread lazily
        (after a fork too)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="bellamy-outbox-relay", daemon=True)
                self._thread.start()
        self._queue.put(ids)

    def _run(self) -> None:
        from django.db import close_old_connections

        while True:
            batch = list(self._queue.get())
            while len(batch) < self.max_batch:
                try:
                    batch.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            close_old_connections()
            try:
                relay_outbox(ids=batch, limit=len(batch))
            except Exception:  # the rows stay unsent; the sweep retries them
                logger.exception("background outbox relay of %d row(s) failed", len(batch))
            if self._queue.empty():
                connection.close()  # idle: hold no database connection between bursts


_background_relay = BackgroundRelay()


@dataclass(frozen=True)
class RelayResult:
    """Outcome of one relay pass: counts of rows sent, failed (left unsent), and held back
    because an older row of the same key is still unsent."""

    sent: int = 0
    failed: int = 0
    held: int = 0


def relay_outbox(*, ids: list[int] | None = None, limit: int = 500) -> RelayResult:
    """Send unsent outbox rows to the configured bus, oldest first, and mark them sent.

    Rows are locked with ``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL), so several relays
    (after-commit relays of many requests, the periodic sweep) never send one row twice at
    once. A row is held back while an older unsent row of its key exists outside this pass,
    and a failure stops the rest of that key, so each key's events reach the bus in order.

    Args:
        ids: only these rows (the after-commit relay); ``None`` scans all unsent rows.
        limit: most rows handled in this pass.
    Returns:
        :class:`RelayResult` counts.
    """
    with transaction.atomic():
        query = OutboxEvent.objects.filter(sent_at__isnull=True)
        if ids is not None:
            query = query.filter(id__in=ids)
        rows = list(query.select_for_update(skip_locked=True).order_by("id")[:limit])
        if not rows:
            return RelayResult()
        batch_ids = [row.id for row in rows]
        blocked_from = dict(
            OutboxEvent.objects.filter(sent_at__isnull=True, key__in={r.key for r in rows}, id__lt=batch_ids[-1])
            .exclude(id__in=batch_ids)
            .values("key")
            .annotate(first=Min("id"))
            .values_list("key", "first")
        )
        sendable = [row for row in rows if row.id < blocked_from.get(row.key, row.id + 1)]
        held = len(rows) - len(sendable)
        if not sendable:
            return RelayResult(held=held)
        results = get_backend("BELLAMY_EVENTS").send_many([Envelope.from_dict(r.payload) for r in sendable])
        sent_ids, failures = [], defaultdict(list)
        for row, error in zip(sendable, results, strict=True):
            if error is None:
                sent_ids.append(row.id)
            else:
                failures[f"{type(error).__name__}: {error}"[:1000]].append(row.id)
        now = timezone.now()
        if sent_ids:
            OutboxEvent.objects.filter(id__in=sent_ids).update(sent_at=now, attempts=F("attempts") + 1)
        for message, failed_ids in failures.items():
            OutboxEvent.objects.filter(id__in=failed_ids).update(attempts=F("attempts") + 1, last_error=message)
        failed = sum(len(v) for v in failures.values())
        metrics.events_published(row.type for row, error in zip(sendable, results, strict=True) if error is None)
        metrics.events_publish_failed(row.type for row, error in zip(sendable, results, strict=True) if error)
    if failed:
        logger.warning("outbox relay: %d sent, %d failed, %d held", len(sent_ids), failed, held)
    return RelayResult(sent=len(sent_ids), failed=failed, held=held)


def relay_all_pending(*, batch_size: int = 500, max_batches: int | None = None) -> RelayResult:
    """Run :func:`relay_outbox` passes until nothing more can be sent.

    Stops when a pass sends nothing (empty outbox, bus down, or only held rows).

    Returns:
        The summed :class:`RelayResult` of every pass.
    """
    total = RelayResult()
    batches = 0
    while max_batches is None or batches < max_batches:
        result = relay_outbox(limit=batch_size)
        batches += 1
        total = RelayResult(total.sent + result.sent, total.failed + result.failed, total.held + result.held)
        if result.sent == 0:
            break
    return total


def prune_outbox(*, retention_hours: int | None = None, processed_retention_hours: int = 168) -> tuple[int, int]:
    """Delete sent outbox rows older than the retention, and old idempotency records.

    Args:
        retention_hours: hours a sent row is kept (default ``BELLAMY_OUTBOX_RETENTION_HOURS``).
        processed_retention_hours: hours a ``ProcessedEvent`` is kept (default 168 = 7 days,
            far longer than any redelivery).
    Returns:
        ``(outbox rows deleted, processed records deleted)``. Unsent rows are never deleted.
    """
    hours = settings.BELLAMY_OUTBOX_RETENTION_HOURS if retention_hours is None else retention_hours
    now = timezone.now()
    outbox, _ = OutboxEvent.objects.filter(sent_at__lt=now - timedelta(hours=hours)).delete()
    processed, _ = ProcessedEvent.objects.filter(
        processed_at__lt=now - timedelta(hours=processed_retention_hours)
    ).delete()
    return outbox, processed


# --- dead letters -----------------------------------------------------------------------------
def dead_letter_digest(task_name: str, payload: Any) -> str:
    """sha256 hex of ``task_name`` and the batch's event ids (sorted), or of the whole payload
    when it is not a list of envelopes: the same batch of the same task has the same digest."""
    if isinstance(payload, list) and all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in payload):
        body = ",".join(sorted(item["id"] for item in payload))
    else:
        body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()
    return hashlib.sha256(f"{task_name}\n{body}".encode()).hexdigest()


def dead_letter_record(*, task_name: str, queue: str, payload: Any, error: BaseException, attempts: int,
                       first_failed_at: datetime) -> DeadLetter:
    """Store (or update) the dead letter of a batch ``task_name`` gave up on.

    A pending dead letter of the same task and batch (a redelivered copy that failed too) is
    updated — reason, traceback, last failure, attempts added — instead of duplicated.

    Args:
        task_name: the task's registered name.
        queue: the queue it was delivered on ("" if unknown).
        payload: the batch as the task received it (a list of envelope dicts, or whatever
            undecodable value it got).
        error: the last exception; its type, message and traceback are stored.
        attempts: how many times the batch was run before giving up.
        first_failed_at: when its first attempt failed.
    Returns:
        The stored :class:`DeadLetter`.
    Raises:
        django.db.Error: the database could not store it (the caller keeps the batch and retries).
    """
    now = timezone.now()
    reason = f"{type(error).__name__}: {error}"[:2000]
    trace = "".join(traceback.format_exception(error))[-20000:]
    digest = dead_letter_digest(task_name, payload)
    count = len(payload) if isinstance(payload, list) else 1
    with transaction.atomic():
        letter = (DeadLetter.objects.select_for_update()
                  .filter(task_name=task_name, digest=digest, replayed_at__isnull=True).first())
        if letter is None:
            try:
                with transaction.atomic():
                    letter = DeadLetter.objects.create(
                        task_name=task_name, queue=queue, payload=payload, event_count=count, digest=digest,
                        reason=reason, traceback=trace, attempts=attempts, first_failed_at=first_failed_at,
                        last_failed_at=now,
                    )
            except IntegrityError:  # a concurrent copy stored it first: update that one
                letter = DeadLetter.objects.select_for_update().get(task_name=task_name, digest=digest,
                                                                    replayed_at__isnull=True)
            else:
                logger.error("dead letter %s: %s gave up on %d event(s) after %d attempt(s): %s",
                             letter.pk, task_name, count, attempts, reason)
                return letter
        letter.reason, letter.traceback, letter.last_failed_at = reason, trace, now
        letter.attempts += attempts
        letter.first_failed_at = min(letter.first_failed_at, first_failed_at)
        letter.save(update_fields=["reason", "traceback", "last_failed_at", "attempts", "first_failed_at"])
    logger.error("dead letter %s updated: %s failed again on %d event(s): %s", letter.pk, task_name, count, reason)
    return letter


def dead_letter_replay(*, letter: DeadLetter) -> None:
    """Hand a pending dead letter's batch to its task again, on its queue, and mark it replayed.

    The task is enqueued first and the letter marked after, so a failure in between can only
    replay twice (harmless: the task skips what it handled), never lose the batch. With eager
    Celery (the embedded default) the task runs inline, and its error propagates.

    Raises:
        ValueError: the letter was replayed already.
        kombu.exceptions.OperationalError: the task broker is unreachable (nothing marked).
        Exception: with eager Celery, whatever the task raised (nothing marked).
    """
    from bellamy.events.dispatch import enqueue, import_tasks
    from bellamy.events.routes import Route

    if letter.replayed_at is not None:
        raise ValueError(f"dead letter {letter.pk} was replayed at {letter.replayed_at.isoformat()}")
    import_tasks()
    enqueue(Route(letter.task_name, letter.queue or settings.CELERY_TASK_DEFAULT_QUEUE), letter.payload)
    DeadLetter.objects.filter(pk=letter.pk, replayed_at__isnull=True).update(replayed_at=timezone.now())
    logger.info("dead letter %s replayed to %s", letter.pk, letter.task_name)
