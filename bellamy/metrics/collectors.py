"""Figures read from the services when ``/metrics`` is scraped (and by the operations page).

Some figures are cheaper and truer to read than to count: how many tasks wait in each Celery
queue (the broker's Redis lists), how far the forwarder's consumer group is behind on each
Kafka partition (committed vs end offsets), how many users are online (presence), how many
outbox rows are unsent. Each is a :class:`ScrapeCollector`:

- its reading runs in a thread, and a scrape waits for it at most ``timeout`` seconds
  (``BELLAMY_METRICS_SCRAPE_TIMEOUT``, default 2): a service that is down or hanging never
  hangs a scrape — the scrape gets the last good reading, or nothing for that collector;
- a reading is reused for ``ttl`` seconds (``BELLAMY_METRICS_CACHE_SECONDS``, default 5), so
  frequent scrapes (or several Prometheus servers) cost the services one read per period;
- only one reading per collector runs at a time;
- ``bellamy_metrics_collector_up{collector}`` (1 = the served figures come from a reading
  that succeeded within the ttl) and ``bellamy_metrics_collector_age_seconds{collector}``
  say how fresh each figure is.

A collector that does not apply (Kafka lag with the in-process bus, queue depths with eager
Celery) reports nothing and is not listed. These figures live in no process's files, so
they are the same whichever web process answers the scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """One collector's served reading.

    Fields:
        data: the reading (shape per collector), ``None`` before the first success.
        age: seconds since ``data`` was read (``None`` without data).
        up: True when ``data`` is fresh (read within the ttl by a reading that succeeded).
        error: the last failure as ``"<Exception>: message"`` ("" if the last reading worked).
    """

    data: Any
    age: float | None
    up: bool
    error: str = ""


class ScrapeCollector:
    """Base class: a figure read from a service, cached and bounded in time (module docstring).

    Subclasses set :attr:`name`, implement :meth:`applies`, :meth:`read` (may block; runs in a
    thread) and :meth:`families` (turns a reading into metric families).
    """

    name = ""

    def __init__(self, *, ttl: float | None = None, timeout: float | None = None):
        self.ttl = settings.BELLAMY_METRICS_CACHE_SECONDS if ttl is None else ttl
        self.timeout = settings.BELLAMY_METRICS_SCRAPE_TIMEOUT if timeout is None else timeout
        self._lock = threading.Lock()
        self._data: Any = None
        self._read_at: float | None = None
        self._error = ""
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    # --- to implement ---
    def applies(self) -> bool:
        """True when this deployment has the service (else nothing is read or reported)."""
        raise NotImplementedError

    def read(self) -> Any:
        """Read the figures from the service (blocking; raises on failure)."""
        raise NotImplementedError

    def families(self, data: Any) -> Iterable[GaugeMetricFamily]:
        """The metric families of one reading."""
        raise NotImplementedError

    # --- machinery ---
    def _refresh(self) -> None:
        try:
            data = self.read()
        except Exception as exc:  # a scrape reports failures, it never raises
            logger.warning("metrics collector %s failed: %s: %s", self.name, type(exc).__name__, exc)
            with self._lock:
                self._error = f"{type(exc).__name__}: {exc}"[:300]
        else:
            with self._lock:
                self._data, self._read_at, self._error = data, time.monotonic(), ""
        finally:
            self._close_thread_resources()
            self._done.set()

    def _close_thread_resources(self) -> None:
        """Release what :meth:`read` opened for this thread (database connections)."""

    def start(self) -> float:
        """Start a reading unless the last one is fresh or one is running; return the monotonic
        time until which a scrape may wait for it (now when fresh)."""
        with self._lock:
            if self._read_at is not None and time.monotonic() - self._read_at < self.ttl:
                return time.monotonic()
            if self._thread is None or not self._thread.is_alive():
                self._done = threading.Event()
                self._thread = threading.Thread(target=self._refresh, name=f"metrics-{self.name}", daemon=True)
                self._thread.start()
            return time.monotonic() + self.timeout

    def snapshot(self, *, wait_until: float | None = None) -> Snapshot:
        """The freshest reading available within ``timeout`` seconds (module docstring).

        Args:
            wait_until: the deadline returned by :meth:`start` when the caller started several
                collectors at once (they then read in parallel); default: start now.
        """
        deadline = self.start() if wait_until is None else wait_until
        with self._lock:
            done = self._done
        done.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            age = None if self._read_at is None else time.monotonic() - self._read_at
            up = age is not None and age < self.ttl + self.timeout and not self._error
            return Snapshot(self._data, age, up, self._error)


class KafkaLagCollector(ScrapeCollector):
    """The forwarder group's lag per partition of every event topic, and the dead-letter
    topic's size. Four small admin requests for the project's topics only (metadata of those
    topics, end and beginning offsets, the group's committed offsets), never a scan of the
    cluster's metadata; Kafka bus only.

    Reading shape: ``{"group": str, "partitions": [(topic, partition, end, committed or None,
    beginning)], "dead_letters": {topic: messages}}``.
    """

    name = "kafka"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._admin = None

    def applies(self) -> bool:
        return settings.BELLAMY_EVENTS["BACKEND"].endswith("KafkaBus")

    def _client(self):
        from kafka import KafkaAdminClient

        if self._admin is None:
            timeout_ms = int(max(self.timeout, 1.0) * 1000)
            self._admin = KafkaAdminClient(bootstrap_servers=settings.BELLAMY_EVENTS["OPTIONS"]["bootstrap_servers"],
                                           client_id="bellamy-metrics", request_timeout_ms=timeout_ms,
                                           bootstrap_timeout_ms=timeout_ms)
        return self._admin

    def _reset_client(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:  # noqa: BLE001, S110 — closing a broken client
                pass
        self._admin = None

    def read(self) -> dict:
        from kafka.admin import OffsetSpec
        from kafka.structs import TopicPartition

        from bellamy.events.registry import DEAD_LETTER_TOPIC, all_topics, topic_for

        prefix = settings.BELLAMY_EVENTS["OPTIONS"].get("topic_prefix", "")
        group = settings.BELLAMY_FORWARDER_GROUP
        dead_letter_topic = topic_for(DEAD_LETTER_TOPIC, prefix=prefix)
        try:
            admin = self._client()
            described = admin.describe_topics([*all_topics(prefix=prefix), dead_letter_topic])
            # A topic not created yet (error code 3) has nothing to report.
            partitions = sorted(TopicPartition(topic["name"], p["partition_index"])
                                for topic in described if topic["error_code"] == 0 for p in topic["partitions"])
            if partitions:
                ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
                beginnings = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in partitions})
            committed = admin.list_group_offsets(group).get(group, {})
        except Exception:
            self._reset_client()  # rebuilt at the next reading (e.g. after a broker restart)
            raise
        rows, dead = [], {}
        for tp in partitions:
            end, beginning = ends[tp].offset, beginnings[tp].offset
            if tp.topic == dead_letter_topic:
                dead[tp.topic] = dead.get(tp.topic, 0) + end - beginning
                continue
            offset = committed.get(tp)
            rows.append((tp.topic, tp.partition, end,
                         offset.offset if offset is not None and offset.offset >= 0 else None, beginning))
        return {"group": group, "partitions": rows, "dead_letters": dead}

    @staticmethod
    def lag(end: int, committed: int | None, beginning: int) -> int:
        """Messages of a partition the group has not committed: ``end − committed`` (``end −
        beginning`` before its first commit: it starts at the earliest kept message)."""
        return max(0, end - (committed if committed is not None else beginning))

    def families(self, data: dict):
        lag = GaugeMetricFamily(
            "bellamy_kafka_consumer_lag",
            "Messages of an event topic's partition not yet committed by the forwarder's consumer group.",
            labels=["group", "topic", "partition"],
        )
        for topic, partition, end, committed, beginning in data["partitions"]:
            lag.add_metric([data["group"], topic, str(partition)], self.lag(end, committed, beginning))
        yield lag
        dead = GaugeMetricFamily(
            "bellamy_dead_letter_topic_messages",
            "Messages kept in the dead-letter topic (end minus beginning offsets, over its partitions).",
            labels=["topic"],
        )
        for topic, count in sorted(data["dead_letters"].items()):
            dead.add_metric([topic], count)
        yield dead


class CeleryQueueCollector(ScrapeCollector):
    """Tasks waiting in each Celery queue, and tasks delivered but not yet acknowledged (Redis
    broker: ``LLEN`` of each queue's lists, ``HLEN`` of kombu's ``unacked`` hash; one pipelined
    round trip).

    Reading shape: ``{"queues": {queue: waiting}, "unacked": int}``.
    """

    name = "celery"
    #: kombu's Redis transport keeps priorities 3, 6, 9 in separate lists ``<queue>\\x06\\x16<p>``.
    PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._client = None

    def applies(self) -> bool:
        return (not settings.CELERY_TASK_ALWAYS_EAGER
                and settings.CELERY_BROKER_URL.split("://", 1)[0] in ("redis", "rediss", "unix"))

    def read(self) -> dict:
        import redis

        if self._client is None:
            self._client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=self.timeout,
                                                socket_connect_timeout=self.timeout)
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        queues = list(settings.BELLAMY_QUEUES)
        pipe = self._client.pipeline(transaction=False)
        for queue in queues:
            for suffix in self.PRIORITY_SUFFIXES:
                pipe.llen(f"{prefix}{queue}{suffix}")
        pipe.hlen(f"{prefix}unacked")
        values = pipe.execute()
        per_queue = len(self.PRIORITY_SUFFIXES)
        return {
            "queues": {q: sum(values[i * per_queue:(i + 1) * per_queue]) for i, q in enumerate(queues)},
            "unacked": values[-1],
        }

    def families(self, data: dict):
        waiting = GaugeMetricFamily("bellamy_celery_queue_length", "Tasks waiting in a Celery queue.",
                                    labels=["queue"])
        for queue, count in data["queues"].items():
            waiting.add_metric([queue], count)
        yield waiting
        yield GaugeMetricFamily(
            "bellamy_celery_unacked_tasks",
            "Tasks handed to a worker and not yet acknowledged (running or reserved), all queues.",
            value=data["unacked"],
        )


class PresenceCollector(ScrapeCollector):
    """Users with at least one unexpired socket, from presence in Redis (``ZCOUNT`` of the
    online set above now). Reading shape: ``{"online_users": int}``."""

    name = "presence"

    def applies(self) -> bool:
        return bool(settings.REDIS_URL)

    def read(self) -> dict:
        from bellamy.realtime.presence import get_presence

        presence = get_presence()
        # The layout of bellamy.realtime.presence: P:online, score = latest socket expiry.
        count = presence.client.zcount(f"{presence.prefix}:online", f"({time.time()}", "+inf")
        return {"online_users": int(count)}

    def families(self, data: dict):
        yield GaugeMetricFamily("bellamy_presence_online_users",
                                "Users with at least one open (unexpired) WebSocket, from presence.",
                                value=data["online_users"])


class OutboxCollector(ScrapeCollector):
    """Outbox rows not yet sent to the bus and the age of the oldest one (one indexed query).
    Reading shape: ``{"unsent": int, "oldest_age": float seconds or None}``."""

    name = "outbox"

    def applies(self) -> bool:
        return True

    def read(self) -> dict:
        from django.db.models import Count, Min
        from django.utils import timezone

        from bellamy.events.models import OutboxEvent

        row = OutboxEvent.objects.filter(sent_at__isnull=True).aggregate(unsent=Count("id"), oldest=Min("created_at"))
        oldest = row["oldest"]
        return {"unsent": row["unsent"],
                "oldest_age": (timezone.now() - oldest).total_seconds() if oldest is not None else None}

    def _close_thread_resources(self) -> None:
        from django.db import connections

        connections.close_all()  # this thread's connections (the reading ran in it)

    def families(self, data: dict):
        yield GaugeMetricFamily("bellamy_outbox_unsent_events", "Outbox rows committed and not yet sent to the bus.",
                                value=data["unsent"])
        yield GaugeMetricFamily("bellamy_outbox_oldest_unsent_age_seconds",
                                "Age of the oldest unsent outbox row (0 when none is unsent).",
                                value=data["oldest_age"] or 0.0)


@dataclass
class Collectors:
    """The scrape-time collectors of this process (one instance each: their caches and
    clients are shared by ``/metrics`` and the operations page)."""

    kafka: KafkaLagCollector = field(default_factory=KafkaLagCollector)
    celery: CeleryQueueCollector = field(default_factory=CeleryQueueCollector)
    presence: PresenceCollector = field(default_factory=PresenceCollector)
    outbox: OutboxCollector = field(default_factory=OutboxCollector)

    def all(self) -> list[ScrapeCollector]:
        """Every collector, in display order."""
        return [self.kafka, self.celery, self.presence, self.outbox]

    def collect(self):
        """Every applicable collector's families, then their freshness gauges."""
        up = GaugeMetricFamily("bellamy_metrics_collector_up",
                               "1 when a scrape-time collector's figures are fresh, 0 when its service did not "
                               "answer in time (the last good figures, if any, are served).", labels=["collector"])
        age = GaugeMetricFamily("bellamy_metrics_collector_age_seconds",
                                "Seconds since a scrape-time collector's served figures were read.",
                                labels=["collector"])
        applicable = [c for c in self.all() if c.applies()]
        # All readings start at once: a scrape waits for the slowest, not for the sum.
        deadlines = [c.start() for c in applicable]
        for collector, deadline in zip(applicable, deadlines, strict=True):
            snapshot = collector.snapshot(wait_until=deadline)
            if snapshot.data is not None:
                yield from collector.families(snapshot.data)
            up.add_metric([collector.name], 1.0 if snapshot.up else 0.0)
            if snapshot.age is not None:
                age.add_metric([collector.name], snapshot.age)
        yield up
        yield age


_collectors: Collectors | None = None
_lock = threading.Lock()


def get_collectors() -> Collectors:
    """This process's collectors (created on first use)."""
    global _collectors
    with _lock:
        if _collectors is None:
            _collectors = Collectors()
        return _collectors


def reset_collectors() -> None:
    """Forget the collectors and their caches (tests that change settings)."""
    global _collectors
    with _lock:
        _collectors = None
