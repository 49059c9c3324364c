"""The forwarder: Kafka → ``dispatch_batch()`` → Celery (``manage.py run_event_forwarder``).

Like Sentry's Kafka consumers that only enqueue Celery tasks: it reads every registered topic in
consumer group ``bellamy-forwarder`` with auto-commit off, a **batch** per poll, and hands the
batch to :func:`~bellamy.events.dispatch.dispatch_batch`, which enqueues one task per route with
that route's envelopes (ARCHITECTURE.md §11). Offsets are committed only after the whole batch
was enqueued (at-least-once; tasks are idempotent).

Batches are bounded in size (``batch_size`` records, ``BELLAMY_FORWARDER_BATCH_SIZE``) and in
wait: once a poll returned records, the forwarder keeps polling for at most the current *linger*
to fill the batch. The linger adapts to the load (:class:`Linger`): it starts at
``batch_wait_ms`` (``BELLAMY_FORWARDER_BATCH_WAIT_MS``, 20), doubles after each batch that got
more records while it lingered, up to ``batch_wait_max_ms``
(``BELLAMY_FORWARDER_BATCH_WAIT_MAX_MS``, 200), and falls back to the minimum after a batch
that got none. A quiet system thus reacts within tens of milliseconds, and a busy one hands
each route a few large tasks instead of many one-event tasks: every task costs its worker a
broker round trip, a transaction and an idempotency statement whatever its size (measured on
``make stack`` at 16 posting clients: 43.8 ms of CPU per post over all processes with a fixed
20 ms wait, 32.7 ms with 200 ms).

Order. Records of one partition (one event type, one key) keep their offset order in the batch
and so in each route's list; the partitions of a batch are merged by ``occurred_at``, which puts
causally related events of one key on different topics (``post.created`` then ``post.deleted``)
in publication order *within* a batch. Batches are enqueued one after the other, so a route's
queue holds its events in order; a worker that needs per-key order across batches consumes its
queue serially (see ``bellamy/events/routes.py``).

Records that are not valid envelopes, or whose type does not match their topic, are copied to
the dead-letter topic with the reason in a header and skipped, so they never block a partition.
If the task broker is down, the batch is kept, the partitions are paused (the consumer stays in
its group), and the dispatch is retried with back-off until it succeeds.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata, TopicPartition

from bellamy import metrics
from bellamy.events.backends.kafka import ensure_topics
from bellamy.events.dispatch import dispatch_batch, import_tasks
from bellamy.events.envelope import Envelope
from bellamy.events.errors import EnvelopeDecodeError
from bellamy.events.registry import DEAD_LETTER_TOPIC, all_topics, topic_for, type_of_topic

logger = logging.getLogger(__name__)


@dataclass
class ForwarderStats:
    """Counts since start: polls made, batches handled, envelopes dispatched, tasks enqueued,
    records dead-lettered, commits, failed commits, failed dispatch attempts (the batch was
    retried), partition assignments received (rebalances), and reconnections to Kafka."""

    polls: int = 0
    batches: int = 0
    dispatched: int = 0
    tasks: int = 0
    dead_lettered: int = 0
    commits: int = 0
    commit_failures: int = 0
    dispatch_failures: int = 0
    assignments: int = 0
    reconnects: int = 0


class _Listener(ConsumerRebalanceListener):
    """Tracks the assignment. kafka-python calls it on its network thread, between the
    consumer's polls."""

    def __init__(self, forwarder: Forwarder):
        self.forwarder = forwarder

    def on_partitions_revoked(self, revoked):
        logger.info("forwarder %s: partitions revoked: %s", self.forwarder.group_id, sorted(map(tuple, revoked)))
        self.forwarder.assigned -= set(revoked)
        self.forwarder._rebalancing_since = time.monotonic()

    def on_partitions_assigned(self, assigned):
        logger.info("forwarder %s: partitions assigned: %s", self.forwarder.group_id, sorted(map(tuple, assigned)))
        self.forwarder.assigned = set(assigned)
        self.forwarder._rebalancing_since = None
        self.forwarder.stats.assignments += 1


class Linger:
    """How long the forwarder keeps polling to fill a batch once records arrived.

    ``current`` starts at ``minimum``; :meth:`after_batch` doubles it (up to ``maximum``) when
    records kept arriving during the linger — events come faster than one per linger, so
    waiting longer gathers more of them per task — and resets it to ``minimum`` when none came
    (a quiet system, or a backlog read in one poll). Seconds.
    """

    def __init__(self, minimum: float, maximum: float):
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
        self.current = minimum

    def after_batch(self, arrived_while_lingering: int) -> float:
        """Adapt to the batch just gathered; return the linger of the next one."""
        if arrived_while_lingering > 0:
            self.current = min(self.maximum, max(self.current * 2, self.minimum))
        else:
            self.current = self.minimum
        return self.current


def _occurred_at(envelope: Envelope) -> str:
    # RFC 3339 UTC with microseconds ("…T12:00:00.000001Z"): string order is time order.
    return envelope.occurred_at


class Forwarder:
    """One forwarder process's consumer loop; it outlives broker outages.

    Kafka unreachable (at start or later), a consumer that cannot complete a rebalance within
    ``stall_timeout`` seconds, or any Kafka error out of a poll, commit or dead-letter write:
    the forwarder closes its clients, waits (back-off from ``retry_pause`` doubling to
    ``max_retry_pause``), connects again and resumes from the group's committed offsets. Offsets
    are committed only after a batch was enqueued, so a batch interrupted by an outage is read
    again (its tasks skip what they already handled). A new consumer group starts at the
    earliest retained offset of every partition (``auto_offset_reset="earliest"``).

    Args:
        bootstrap_servers: ``["host:port", ...]``.
        group_id: consumer group (``settings.BELLAMY_FORWARDER_GROUP``).
        topic_prefix: the prefix of every topic (``settings.BELLAMY_TOPIC_PREFIX``).
        session_timeout_ms: group session timeout; short (10 s) so rebalances are quick.
        batch_size: most records in one batch (one task per route per batch).
        batch_wait_ms: once records arrived, how long to keep polling to fill the batch, at
            least (a quiet system's added latency; 0: never linger).
        batch_wait_max_ms: the longest linger under load (:class:`Linger`).
        poll_timeout_ms: how long one poll waits for the first record.
        liveness_file: touched after every poll (also while Kafka or the task broker is
            unreachable: the process is alive and retrying); a probe checks its age.
        retry_pause: seconds to wait after the first failure (dispatch or Kafka), doubling up
            to ``max_retry_pause``.
        max_retry_pause: the longest pause between retries, in seconds.
        stall_timeout: seconds without a completed rebalance (no assignment since joining or
            since partitions were revoked) after which the consumer is replaced.
    """

    def __init__(self, *, bootstrap_servers: list[str], group_id: str, topic_prefix: str,
                 session_timeout_ms: int = 10000, batch_size: int = 500, batch_wait_ms: int = 20,
                 batch_wait_max_ms: int = 200, poll_timeout_ms: int = 500, liveness_file: str | Path | None = None,
                 retry_pause: float = 0.5, max_retry_pause: float = 5.0, stall_timeout: float = 30.0):
        if batch_size < 1 or batch_wait_ms < 0 or batch_wait_max_ms < 0:
            raise ValueError("batch_size must be >= 1, batch_wait_ms and batch_wait_max_ms >= 0")
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.topic_prefix = topic_prefix
        self.session_timeout_ms = session_timeout_ms
        self.batch_size = batch_size
        self.linger = Linger(batch_wait_ms / 1000, batch_wait_max_ms / 1000)
        self.poll_timeout_ms = poll_timeout_ms
        self.liveness_file = Path(liveness_file) if liveness_file else None
        self.retry_pause = retry_pause
        self.max_retry_pause = max_retry_pause
        self.stall_timeout = stall_timeout
        self.topics = all_topics(prefix=topic_prefix)
        self.dead_letter_topic = topic_for(DEAD_LETTER_TOPIC, prefix=topic_prefix)
        self.stats = ForwarderStats()
        self.assigned: set[TopicPartition] = set()
        self.consumer: KafkaConsumer | None = None
        self.producer: KafkaProducer | None = None
        self._rebalancing_since: float | None = None
        self._stopping = False
        #: ``time.monotonic()`` of the loop's last sign of life (a poll returned, a retry began);
        #: ``run_event_forwarder``'s watchdog exits the process when it stops moving.
        self.last_progress = time.monotonic()

    # --- connection -------------------------------------------------------------------------
    def connect(self) -> None:
        """Create the consumer (subscribed) and the dead-letter producer.

        Raises:
            kafka.errors.KafkaError: Kafka is unreachable (nothing is left open).
        """
        # Create missing topics first: a subscription to a topic that does not exist yet is only
        # noticed at a later metadata refresh, delaying the first events.
        ensure_topics(self.bootstrap_servers, [*self.topics, self.dead_letter_topic])
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.group_id}-forwarder",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.session_timeout_ms // 3),
            max_poll_records=self.batch_size,
            # Notice new topics/partitions within seconds (the default is 5 minutes).
            metadata_max_age_ms=5000,
        )
        try:
            self.assigned = set()
            self._rebalancing_since = time.monotonic()
            # Subscribe *before* waiting for the topics' metadata. Fetched the other way round, the
            # group's first assignment is recorded against a metadata snapshot taken without the
            # subscription; the next refresh then differs and forces a second rebalance right
            # after the first one, during which a fresh group's first batch is read, dispatched
            # and its commit refused (and kafka-python 3.0 was seen stuck in that rebalance).
            consumer.subscribe(topics=self.topics, listener=_Listener(self))
            self.consumer = consumer
            self._await_metadata(self.topics)
            self.producer = KafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all",
                                          client_id=f"{self.group_id}-dlq")
        except BaseException:
            self._close_clients()
            raise

    def _await_metadata(self, topics: list[str], timeout: float = 15.0) -> None:
        """Wait until the consumer has partition metadata for every subscribed topic (a topic
        just created is not in the metadata at once)."""
        deadline = time.monotonic() + timeout
        missing = list(topics)
        while missing and time.monotonic() < deadline:
            missing = [t for t in missing if not self.consumer.partitions_for_topic(t)]
            if missing:
                time.sleep(0.2)
        if missing:
            logger.warning("forwarder: no partition metadata yet for %s; joining anyway", missing)

    def _reconnect(self, reason: str, pause: float) -> float:
        """Drop the clients after ``reason``, wait ``pause`` seconds; returns the next pause."""
        self.stats.reconnects += 1
        logger.warning("forwarder %s: %s; reconnecting in %.1f s (from the committed offsets)", self.group_id, reason,
                       pause)
        self._close_clients()
        self._sleep(pause)
        return min(pause * 2, self.max_retry_pause)

    def _stalled(self) -> bool:
        since = self._rebalancing_since
        return since is not None and time.monotonic() - since > self.stall_timeout

    def stop(self) -> None:
        """Ask the loop to finish its current batch, commit, and return (SIGTERM handler)."""
        self._stopping = True

    # --- the loop -----------------------------------------------------------------------------
    def run(self, *, max_polls: int | None = None, run_for: float | None = None,
            until_idle_polls: int | None = None) -> ForwarderStats:
        """Connect, then poll, dispatch and commit until stopped; reconnect after Kafka failures.

        Args:
            max_polls: return after this many batches polled (tests).
            run_for: return after this many seconds.
            until_idle_polls: return after this many consecutive empty polls (drains a backlog).
        Returns:
            The :class:`ForwarderStats` of this run.
        """
        deadline = time.monotonic() + run_for if run_for is not None else None
        idle = 0
        pause = self.retry_pause
        import_tasks()  # before joining: the first batch must not wait for the task modules
        try:
            while not self._stopping:
                if max_polls is not None and self.stats.polls >= max_polls:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                try:
                    if self.consumer is None:
                        self.connect()
                    batch = self._poll_batch()
                    self.stats.polls += 1
                    self._touch_liveness()
                    if batch:
                        idle = 0
                        self._handle_batch(batch)
                    elif self._stalled():
                        pause = self._reconnect(
                            f"no partition assignment for {self.stall_timeout:.0f} s (rebalance stuck)", pause)
                        continue
                    else:
                        idle += 1
                        if until_idle_polls is not None and idle >= until_idle_polls:
                            break
                except (KafkaError, OSError) as exc:  # the broker is unreachable or the client broke
                    self._touch_liveness()
                    pause = self._reconnect(f"{type(exc).__name__}: {exc}", pause)
                    continue
                except Exception as exc:  # a client in a state it cannot leave: start afresh
                    logger.exception("forwarder: unexpected error")
                    self._touch_liveness()
                    pause = self._reconnect(f"{type(exc).__name__}: {exc}", pause)
                    continue
                if self.assigned:
                    pause = self.retry_pause
        finally:
            self.close()
        return self.stats

    def _poll_batch(self) -> dict[TopicPartition, list]:
        """One batch: wait up to ``poll_timeout_ms`` for records, then keep polling for at most
        the current linger (:class:`Linger`) while the batch has fewer than ``batch_size``
        records."""
        batch = self.consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.batch_size)
        count = sum(len(records) for records in batch.values())
        if not count or self.linger.current <= 0:
            return batch
        first = count
        deadline = time.monotonic() + self.linger.current
        while count < self.batch_size:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            more = self.consumer.poll(timeout_ms=remaining_ms, max_records=self.batch_size - count)
            for tp, records in more.items():
                batch.setdefault(tp, []).extend(records)
                count += len(records)
        self.linger.after_batch(count - first)
        return batch

    def _handle_batch(self, batch: dict[TopicPartition, list]) -> None:
        """Decode (dead-lettering what is not an envelope), dispatch as one batch, commit."""
        partitions: list[list[Envelope]] = []
        offsets: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            envelopes = [e for e in (self._decode(record) for record in records) if e is not None]
            if envelopes:
                partitions.append(envelopes)
            offsets[tp] = records[-1].offset + 1
        # Each partition's records stay in offset order; partitions interleave by event time.
        envelopes = list(heapq.merge(*partitions, key=_occurred_at))
        if envelopes and not self._dispatch(envelopes):
            return  # stopping before the broker came back: nothing committed, re-read later
        self.stats.batches += 1
        self._commit(offsets)

    def _dispatch(self, envelopes: list[Envelope]) -> bool:
        """``dispatch_batch(envelopes)``, retried with back-off while the task broker is down.

        The partitions are paused meanwhile and ``poll`` keeps the consumer in its group without
        fetching. Returns False only when asked to stop before the dispatch succeeded.
        """
        pause = self.retry_pause
        paused: set[TopicPartition] = set()
        try:
            while True:
                try:
                    self.stats.tasks += dispatch_batch(envelopes)
                except Exception:  # the task broker is unreachable: keep the batch and retry
                    self.stats.dispatch_failures += 1
                    logger.exception("forwarder: dispatch of a batch of %d failed; retrying in %.1f s",
                                     len(envelopes), pause)
                else:
                    self.stats.dispatched += len(envelopes)
                    metrics.events_consumed(envelope.type for envelope in envelopes)
                    return True
                if not paused:
                    paused = set(self.consumer.assignment())
                    self.consumer.pause(*paused)
                if self._sleep(pause):
                    return False
                pause = min(pause * 2, self.max_retry_pause)
                self._keep_membership()
        finally:
            if paused and self.consumer is not None:
                self.consumer.resume(*(paused & set(self.consumer.assignment())))

    def _keep_membership(self) -> None:
        """Poll without fetching paused partitions (keeps ``max_poll_interval_ms`` satisfied);
        records of partitions assigned meanwhile are rewound, to be read after the batch."""
        unexpected = self.consumer.poll(timeout_ms=0)
        for tp, records in unexpected.items():
            self.consumer.seek(tp, records[0].offset)
        self._touch_liveness()

    def _sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on :meth:`stop`; True when stopping."""
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        return self._stopping

    def _decode(self, record) -> Envelope | None:
        """The record's envelope, or None after copying it to the dead-letter topic."""
        topic_type = type_of_topic(record.topic, prefix=self.topic_prefix)
        try:
            envelope = Envelope.decode(record.value)
            if envelope.type != topic_type:
                raise EnvelopeDecodeError(
                    f"envelope type {envelope.type!r} does not belong on topic {record.topic!r}"
                )
        except EnvelopeDecodeError as exc:
            self._dead_letter(record, str(exc))
            return None
        return envelope

    def _dead_letter(self, record, reason: str) -> None:
        """Copy ``record`` to the dead-letter topic (waiting for the ack) with its origin and reason.

        Raises:
            kafka.errors.KafkaError: not acknowledged (the loop reconnects; the batch is re-read).
        """
        headers = [
            ("reason", reason[:1000].encode()),
            ("origin_topic", record.topic.encode()),
            ("origin_partition", str(record.partition).encode()),
            ("origin_offset", str(record.offset).encode()),
        ]
        self.producer.send(self.dead_letter_topic, key=record.key, value=record.value, headers=headers).get(timeout=10)
        self.stats.dead_lettered += 1
        metrics.dead_lettered("forwarder")
        logger.warning("forwarder: %s:%s@%s dead-lettered: %s", record.topic, record.partition, record.offset, reason)

    def _commit(self, done: dict[TopicPartition, int]) -> None:
        """Commit the offsets of partitions still assigned. Those revoked meanwhile are left to
        their new owner, which re-reads them (the tasks skip the repeats): committing during a
        rebalance would only be refused."""
        owned = {tp: offset for tp, offset in done.items() if tp in self.assigned}
        if len(owned) < len(done):
            self.stats.commit_failures += 1
            logger.info("forwarder: %d partition(s) revoked during the batch; their offsets are not committed",
                        len(done) - len(owned))
        if not owned:
            return
        try:
            self.consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in owned.items()})
        except (CommitFailedError, RebalanceInProgressError) as exc:
            # The group rebalanced mid-batch: the new owner re-reads these records, and the
            # idempotent tasks make the repeat harmless.
            self.stats.commit_failures += 1
            logger.warning("forwarder: commit skipped during a rebalance: %s", exc)
        else:
            self.stats.commits += 1

    def _touch_liveness(self) -> None:
        self.last_progress = time.monotonic()
        if self.liveness_file is not None:
            self.liveness_file.parent.mkdir(parents=True, exist_ok=True)
            self.liveness_file.touch()

    def _close_clients(self) -> None:
        consumer, producer = self.consumer, self.producer
        self.consumer = self.producer = None
        self.assigned = set()
        self._rebalancing_since = None
        if consumer is not None:
            try:
                consumer.close(autocommit=False)
            except Exception as exc:  # unreachable broker: leaving the group fails, the session expires
                logger.info("forwarder: consumer closed with an error: %s", exc)
        if producer is not None:
            try:
                producer.close(timeout=0 if self._stopping else 2)
            except Exception as exc:
                logger.info("forwarder: dead-letter producer closed with an error: %s", exc)

    def close(self) -> None:
        """Close the consumer (leaving the group at once) and the dead-letter producer."""
        self._close_clients()
