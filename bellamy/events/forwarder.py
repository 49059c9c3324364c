"""The forwarder: Kafka → ``dispatch()`` → Celery (``manage.py run_event_forwarder``).

Like Sentry's Kafka consumers that only enqueue Celery tasks: it reads every registered
topic in consumer group ``bellamy-forwarder`` with auto-commit off, hands each decoded
envelope to :func:`~bellamy.events.dispatch.dispatch`, and commits a partition's offset only
after every record before it was enqueued (at-least-once; tasks are idempotent). Records
that are not valid envelopes, or whose type does not match a registered topic, are copied
to the dead-letter topic with the reason in a header and skipped, so they never block a
partition. If the task broker is down, the partition is rewound to the first record not
enqueued and retried after a pause.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata, TopicPartition

from bellamy.events.backends.kafka import ensure_topics
from bellamy.events.dispatch import dispatch
from bellamy.events.envelope import Envelope
from bellamy.events.errors import EnvelopeDecodeError
from bellamy.events.registry import DEAD_LETTER_TOPIC, all_topics, topic_for, type_of_topic

logger = logging.getLogger(__name__)


@dataclass
class ForwarderStats:
    """Counts since start: polls made, records dispatched, dead-lettered, commits, failed commits,
    and dispatch failures (records rewound to retry)."""

    polls: int = 0
    dispatched: int = 0
    dead_lettered: int = 0
    commits: int = 0
    commit_failures: int = 0
    dispatch_failures: int = 0


class _Listener(ConsumerRebalanceListener):
    def __init__(self, forwarder: Forwarder):
        self.forwarder = forwarder

    def on_partitions_revoked(self, revoked):
        logger.info("forwarder: partitions revoked: %s", sorted(map(tuple, revoked)))

    def on_partitions_assigned(self, assigned):
        logger.info("forwarder: partitions assigned: %s", sorted(map(tuple, assigned)))
        self.forwarder.assigned = set(assigned)


class Forwarder:
    """One forwarder process's consumer loop.

    Args:
        bootstrap_servers: ``["host:port", ...]``.
        group_id: consumer group (``settings.BELLAMY_FORWARDER_GROUP``).
        topic_prefix: the prefix of every topic (``settings.BELLAMY_TOPIC_PREFIX``).
        session_timeout_ms: group session timeout; short (10 s) so rebalances are quick.
        max_poll_records: records per poll (per batch).
        poll_timeout_ms: how long one poll waits for records.
        liveness_file: touched after every poll; a probe checks its age.
        retry_pause: seconds to wait after a dispatch failure before retrying.
    """

    def __init__(self, *, bootstrap_servers: list[str], group_id: str, topic_prefix: str,
                 session_timeout_ms: int = 10000, max_poll_records: int = 500,
                 poll_timeout_ms: int = 500, liveness_file: str | Path | None = None,
                 retry_pause: float = 1.0):
        self.topic_prefix = topic_prefix
        self.poll_timeout_ms = poll_timeout_ms
        self.liveness_file = Path(liveness_file) if liveness_file else None
        self.retry_pause = retry_pause
        self.dead_letter_topic = topic_for(DEAD_LETTER_TOPIC, prefix=topic_prefix)
        self.stats = ForwarderStats()
        self.assigned: set[TopicPartition] = set()
        self._stopping = False
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=f"{group_id}-forwarder",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(1000, session_timeout_ms // 3),
            max_poll_records=max_poll_records,
            # Notice new topics/partitions within seconds (the default is 5 minutes), so a
            # group that formed before a topic's metadata spread rebalances promptly.
            metadata_max_age_ms=5000,
        )
        # Create missing topics first: a subscription to a topic that does not exist yet is
        # only noticed at the next metadata refresh (minutes), delaying the first events.
        topics = all_topics(prefix=topic_prefix)
        ensure_topics(bootstrap_servers, [*topics, self.dead_letter_topic])
        self._await_metadata(topics)
        self.consumer.subscribe(topics=topics, listener=_Listener(self))
        self.producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", client_id=f"{group_id}-dlq")

    def _await_metadata(self, topics: list[str], timeout: float = 15.0) -> None:
        """Wait until the broker reports partitions for every topic (a topic just created is
        not in the metadata at once; joining the group before would assign nothing)."""
        deadline = time.monotonic() + timeout
        missing = list(topics)
        while missing and time.monotonic() < deadline:
            missing = [t for t in missing if not self.consumer.partitions_for_topic(t)]
            if missing:
                time.sleep(0.2)
        if missing:
            logger.warning("forwarder: no partition metadata yet for %s; joining anyway", missing)

    def stop(self) -> None:
        """Ask the loop to finish its current batch, commit, and return (SIGTERM handler)."""
        self._stopping = True

    def run(self, *, max_polls: int | None = None, run_for: float | None = None,
            until_idle_polls: int | None = None) -> ForwarderStats:
        """Poll, dispatch and commit until stopped.

        Args:
            max_polls: return after this many polls (tests).
            run_for: return after this many seconds.
            until_idle_polls: return after this many consecutive empty polls (drains a backlog).
        Returns:
            The :class:`ForwarderStats` of this run.
        """
        deadline = time.monotonic() + run_for if run_for is not None else None
        idle = 0
        try:
            while not self._stopping:
                if max_polls is not None and self.stats.polls >= max_polls:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                batch = self.consumer.poll(timeout_ms=self.poll_timeout_ms)
                self.stats.polls += 1
                self._touch_liveness()
                if not batch:
                    idle += 1
                    if until_idle_polls is not None and idle >= until_idle_polls:
                        break
                    continue
                idle = 0
                self._handle_batch(batch)
        finally:
            self.close()
        return self.stats

    def _handle_batch(self, batch: dict) -> None:
        done: dict[TopicPartition, int] = {}
        failed = False
        for tp, records in batch.items():
            for record in records:
                try:
                    self._handle_record(record)
                except Exception:  # the task broker is unreachable: retry from this record
                    logger.exception("forwarder: dispatch failed at %s:%s@%s", tp.topic, tp.partition, record.offset)
                    self.stats.dispatch_failures += 1
                    self.consumer.seek(tp, record.offset)
                    failed = True
                    break
                done[tp] = record.offset + 1
        self._commit(done)
        if failed:
            time.sleep(self.retry_pause)

    def _handle_record(self, record) -> None:
        topic_type = type_of_topic(record.topic, prefix=self.topic_prefix)
        try:
            envelope = Envelope.decode(record.value)
            if envelope.type != topic_type:
                raise EnvelopeDecodeError(
                    f"envelope type {envelope.type!r} does not belong on topic {record.topic!r}"
                )
        except EnvelopeDecodeError as exc:
            self._dead_letter(record, str(exc))
            return
        dispatch(envelope)
        self.stats.dispatched += 1

    def _dead_letter(self, record, reason: str) -> None:
        """Copy ``record`` to the dead-letter topic (waiting for the ack) with its origin and reason."""
        headers = [
            ("reason", reason[:1000].encode()),
            ("origin_topic", record.topic.encode()),
            ("origin_partition", str(record.partition).encode()),
            ("origin_offset", str(record.offset).encode()),
        ]
        self.producer.send(self.dead_letter_topic, key=record.key, value=record.value, headers=headers).get(timeout=10)
        self.stats.dead_lettered += 1
        logger.warning("forwarder: %s:%s@%s dead-lettered: %s", record.topic, record.partition, record.offset, reason)

    def _commit(self, done: dict[TopicPartition, int]) -> None:
        if not done:
            return
        try:
            self.consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in done.items()})
        except (CommitFailedError, RebalanceInProgressError) as exc:
            # The group rebalanced mid-batch: the new owner re-reads these records, and the
            # idempotent tasks make the repeat harmless.
            self.stats.commit_failures += 1
            logger.warning("forwarder: commit skipped during a rebalance: %s", exc)
        else:
            self.stats.commits += 1

    def _touch_liveness(self) -> None:
        if self.liveness_file is not None:
            self.liveness_file.parent.mkdir(parents=True, exist_ok=True)
            self.liveness_file.touch()

    def close(self) -> None:
        """Close the consumer (leaving the group at once) and the dead-letter producer."""
        try:
            self.consumer.close(autocommit=False)
        except KafkaError as exc:
            logger.warning("forwarder: close failed: %s", exc)
        self.producer.close(timeout=5)
