"""The production bus: kafka-python producer, one topic per event type.

Producer settings: ``acks=all`` and the idempotent producer (no duplicates from retries,
order kept per partition with at most 5 requests in flight), message key = envelope key
(so one author's events share a partition and stay ordered), headers ``type`` and ``id``.
Topics are created on first use with ``num_partitions`` partitions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from bellamy.events.backends.base import EventBus
from bellamy.events.envelope import Envelope
from bellamy.events.registry import DEAD_LETTER_TOPIC, all_topics, topic_for

logger = logging.getLogger(__name__)


class KafkaUnavailable(KafkaError):
    """The broker could not be reached within the back-off window."""


def ensure_topics(bootstrap_servers: list[str], topics: Sequence[str], *, partitions: int = 3) -> list[str]:
    """Create the missing ``topics`` (replication factor 1 on a single broker).

    Returns:
        The topics that were created (empty when all existed).
    Raises:
        kafka.errors.KafkaError: the broker cannot be reached.
    """
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=10000, bootstrap_timeout_ms=10000
    )
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            replication = 1 if len(admin.describe_cluster()["brokers"]) < 3 else 3
            try:
                admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=replication) for t in missing]
                )
            except TopicAlreadyExistsError:
                pass
        return missing
    finally:
        admin.close()


class KafkaBus(EventBus):
    """Sends envelopes to Kafka.

    Args:
        bootstrap_servers: ``["host:port", ...]``.
        topic_prefix: prepended to every topic (isolation of environments and test runs).
        partitions: partitions of topics this bus creates (default 3).
        send_timeout: seconds ``send_many`` waits for acknowledgements (default 5).
        unavailable_backoff: seconds during which, after the broker could not be reached,
            ``send_many`` fails at once instead of blocking every request (default 5); the
            rows stay in the outbox for the sweep.
    """

    def __init__(self, *, bootstrap_servers: list[str], topic_prefix: str = "", partitions: int = 3,
                 send_timeout: float = 5.0, unavailable_backoff: float = 5.0):
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.partitions = partitions
        self.send_timeout = send_timeout
        self._producer: KafkaProducer | None = None
        self.unavailable_backoff = unavailable_backoff
        self._topics_ready = False
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def producer(self) -> KafkaProducer:
        """The lazily created producer (thread-safe, shared by the process)."""
        with self._lock:
            if self._producer is None:
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=2,
                    max_block_ms=int(self.send_timeout * 1000),
                    bootstrap_timeout_ms=int(self.send_timeout * 1000),
                    request_timeout_ms=int(self.send_timeout * 1000),
                    delivery_timeout_ms=int(self.send_timeout * 1000) + 2000,
                    client_id="bellamy-relay",
                )
            return self._producer

    def ensure_topics(self) -> None:
        """Create every registered topic and the dead-letter topic once per process."""
        if not self._topics_ready:
            ensure_topics(
                self.bootstrap_servers,
                [*all_topics(prefix=self.topic_prefix), topic_for(DEAD_LETTER_TOPIC, prefix=self.topic_prefix)],
                partitions=self.partitions,
            )
            self._topics_ready = True

    def send_many(self, envelopes: Sequence[Envelope]) -> list[BaseException | None]:
        if time.monotonic() < self._down_until:
            return [KafkaUnavailable("kafka was unreachable moments ago; left for the sweep")] * len(envelopes)
        try:
            self.ensure_topics()
            producer = self.producer
        except Exception as exc:  # broker down: every envelope stays unsent
            self._down_until = time.monotonic() + self.unavailable_backoff
            self.close(timeout=0)
            logger.warning("kafka unavailable, %d event(s) stay in the outbox: %s", len(envelopes), exc)
            return [exc] * len(envelopes)
        futures = []
        for envelope in envelopes:
            try:
                futures.append(
                    producer.send(
                        topic_for(envelope.type, prefix=self.topic_prefix),
                        key=envelope.key.encode(),
                        value=envelope.encode(),
                        headers=[("type", envelope.type.encode()), ("id", envelope.id.encode())],
                    )
                )
            except KafkaError as exc:
                futures.append(exc)
        results: list[BaseException | None] = []
        deadline = time.monotonic() + self.send_timeout
        for future in futures:
            if isinstance(future, BaseException):
                results.append(future)
                continue
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as exc:
                results.append(exc)
            else:
                results.append(None)
        if any(results):
            # Unacknowledged records must not trickle out later behind newer ones: drop the
            # producer and its buffer; the rows stay unsent and the sweep resends them in order.
            self._down_until = time.monotonic() + self.unavailable_backoff
            self.close(timeout=0)
        return results

    def ping(self) -> None:
        """List topics through an admin client; raises ``KafkaError`` when unreachable."""
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, request_timeout_ms=3000, bootstrap_timeout_ms=3000
        )
        try:
            admin.list_topics()
        finally:
            admin.close()

    def close(self, timeout: float = 5) -> None:
        """Close the producer, waiting up to ``timeout`` seconds for buffered records."""
        with self._lock:
            if self._producer is not None:
                producer, self._producer = self._producer, None
                try:
                    producer.close(timeout=timeout)
                except KafkaError as exc:  # records still buffered are dropped: they stay in the outbox
                    logger.info("kafka producer closed with unsent records: %s", exc)
