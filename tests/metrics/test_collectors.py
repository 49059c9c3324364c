"""Scrape-time collectors against the real services: Celery queue depths from the broker's Redis
lists, Kafka consumer lag and the dead-letter topic, presence, the outbox — and a service that is
down or hangs never hangs a scrape."""

from __future__ import annotations

import itertools
import socket
import time
from datetime import timedelta

import pytest
import redis
from celery import Celery
from django.utils import timezone
from kombu import Connection

from bellamy.events.backends.kafka import ensure_topics
from bellamy.events.models import OutboxEvent
from bellamy.events.registry import DEAD_LETTER_TOPIC, all_topics, topic_for
from bellamy.metrics import exposition
from bellamy.metrics.collectors import (
    CeleryQueueCollector,
    KafkaLagCollector,
    OutboxCollector,
    PresenceCollector,
    reset_collectors,
)
from bellamy.realtime.presence import reset_presence
from tests.conftest import SESSION_TAG
from tests.metrics.helpers import KAFKA_SERVERS, parse, produce_and_commit

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_collectors():
    reset_collectors()
    yield
    reset_collectors()


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections (kernel backlog) and never answers: a hung service."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def test_queue_depths_come_from_the_brokers_lists(broker, settings):
    # given: tasks published the way Celery publishes them (one with a high priority, which
    # kombu keeps in a separate list), and one delivered to a consumer that has not acked it
    producer = Celery("probe", broker=settings.REDIS_URL)
    producer.conf.broker_transport_options = {"global_keyprefix": broker}
    for _ in range(3):
        producer.send_task("probe.task", args=[1], queue="scoring")
    producer.send_task("probe.task", queue="graph", priority=9)
    with Connection(settings.REDIS_URL, transport_options={"global_keyprefix": broker}) as conn:
        queue = conn.SimpleQueue("scoring")
        message = queue.get(timeout=5)
        collector = CeleryQueueCollector(ttl=0, timeout=2)
        # then
        snapshot = collector.snapshot()
        assert snapshot.up and snapshot.error == ""
        assert snapshot.data == {"queues": {"scoring": 2, "graph": 1, "notifications": 0, "trends": 0, "default": 0},
                                 "unacked": 1}
        message.ack()
    assert collector.snapshot().data["unacked"] == 0


def test_eager_celery_has_no_queue_figures(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert not CeleryQueueCollector().applies()


def test_a_broker_that_hangs_does_not_hang_the_scrape_and_the_last_figures_are_served(broker, settings,
                                                                                      silent_server):
    # given: one good reading
    collector = CeleryQueueCollector(ttl=0, timeout=0.5)
    assert collector.snapshot().data["queues"]["scoring"] == 0
    # when: the broker stops answering (a real connection to a port that never replies)
    collector._client = redis.Redis(port=silent_server, socket_timeout=0.5, socket_connect_timeout=0.5)
    snapshot = collector.snapshot()
    # then: the scrape returns, marked down, with the last good figures
    assert snapshot.up is False
    assert snapshot.data["queues"] == {"scoring": 0, "graph": 0, "notifications": 0, "trends": 0, "default": 0}


@pytest.mark.django_db
def test_the_exposition_reports_a_hung_broker_as_down(broker, settings, silent_server):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent_server}/0"
    settings.BELLAMY_METRICS_SCRAPE_TIMEOUT = 0.5
    families = parse(exposition.render().decode())
    assert families["bellamy_metrics_collector_up"][frozenset({("collector", "celery")})] == 0.0
    assert "bellamy_celery_queue_length" not in families  # never read: nothing to serve


def test_consumer_lag_per_partition_and_dead_letters_come_from_kafka_offsets(kafka, settings):
    created, liked = topic_for("post.created", prefix=kafka), topic_for("post.liked", prefix=kafka)
    dead = topic_for(DEAD_LETTER_TOPIC, prefix=kafka)
    ensure_topics(KAFKA_SERVERS, [created, liked, dead], partitions=2)
    # given: 3 records on post.created/0, 1 on post.created/1, 2 on post.liked/0, 1 dead letter;
    # the forwarder group committed post.created/0 up to offset 1, nothing else
    produce_and_commit([(created, 0, 3), (created, 1, 1), (liked, 0, 2), (dead, 1, 1)],
                       group=settings.BELLAMY_FORWARDER_GROUP, commits={(created, 0): 1})

    # when
    collector = KafkaLagCollector(ttl=0, timeout=5)
    snapshot = collector.snapshot()

    # then: the lag of each partition that exists, and the dead-letter topic's size
    assert snapshot.up, snapshot.error
    lags = {(topic, partition): KafkaLagCollector.lag(end, committed, beginning)
            for topic, partition, end, committed, beginning in snapshot.data["partitions"]}
    assert lags == {(created, 0): 2, (created, 1): 1, (liked, 0): 2, (liked, 1): 0}
    assert snapshot.data["dead_letters"] == {dead: 1}
    # and: the families, labelled by group, topic and partition
    families = {f.name: f for f in collector.families(snapshot.data)}
    assert {(tuple(s.labels.values()), s.value) for s in families["bellamy_kafka_consumer_lag"].samples} == {
        ((settings.BELLAMY_FORWARDER_GROUP, created, "0"), 2.0), ((settings.BELLAMY_FORWARDER_GROUP, created, "1"), 1.0),
        ((settings.BELLAMY_FORWARDER_GROUP, liked, "0"), 2.0), ((settings.BELLAMY_FORWARDER_GROUP, liked, "1"), 0.0)}
    assert [(s.labels, s.value) for s in families["bellamy_dead_letter_topic_messages"].samples] == [
        ({"topic": dead}, 1.0)]
    assert len(all_topics(prefix=kafka)) == 17  # the other topics do not exist: nothing reported for them


def test_a_group_that_never_committed_lags_by_every_kept_message(kafka, settings):
    created = topic_for("post.created", prefix=kafka)
    ensure_topics(KAFKA_SERVERS, [created], partitions=2)
    # given: records on both partitions, committed by another group only (a new deployment's
    # forwarder group has never committed)
    produce_and_commit([(created, 0, 2), (created, 1, 3)], group=settings.BELLAMY_FORWARDER_GROUP,
                       commits={(created, 0): 2})
    settings.BELLAMY_FORWARDER_GROUP = f"{kafka}fresh"  # never used: nothing to clean
    # then: it starts at the earliest kept message, so every record is lag; nothing is committed
    snapshot = KafkaLagCollector(ttl=0, timeout=5).snapshot()
    assert snapshot.up, snapshot.error
    assert snapshot.data == {"group": f"{kafka}fresh", "dead_letters": {},
                             "partitions": [(created, 0, 2, None, 0), (created, 1, 3, None, 0)]}
    assert [KafkaLagCollector.lag(end, committed, beginning)
            for _t, _p, end, committed, beginning in snapshot.data["partitions"]] == [2, 3]


def test_kafka_down_marks_the_collector_down_without_blocking(kafka, settings):
    settings.BELLAMY_EVENTS = {"BACKEND": "bellamy.events.backends.kafka.KafkaBus",
                               "OPTIONS": {"bootstrap_servers": ["127.0.0.1:1"], "topic_prefix": kafka}}
    snapshot = KafkaLagCollector(ttl=0, timeout=0.5).snapshot()
    assert (snapshot.up, snapshot.data) == (False, None)


def test_online_users_come_from_presence(settings):
    settings.BELLAMY_KEY_PREFIX = f"m{SESSION_TAG}{next(_counter)}"
    reset_presence()
    from bellamy.realtime.presence import get_presence

    presence = get_presence()
    try:
        presence.touch(1, "tab-a")
        presence.touch(1, "tab-b")  # two tabs: one user
        presence.touch(2, "tab-c")
        presence.touch(3, "tab-d", now=time.time() - 1000)  # stopped heartbeating long ago
        assert PresenceCollector(ttl=0).snapshot().data == {"online_users": 2}
        presence.remove(2, "tab-c")
        assert PresenceCollector(ttl=0).snapshot().data == {"online_users": 1}
    finally:
        presence.clear()
        reset_presence()


@pytest.mark.django_db(transaction=True)
def test_outbox_backlog_and_its_oldest_row():
    def row(n: int, *, sent: bool) -> OutboxEvent:
        return OutboxEvent.objects.create(event_id=f"00000000-0000-0000-0000-{n:012d}", type="post.created",
                                          key="1", payload={}, sent_at=timezone.now() if sent else None)

    row(1, sent=True)
    old, _new = row(2, sent=False), row(3, sent=False)
    OutboxEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(seconds=90))
    data = OutboxCollector(ttl=0).snapshot().data
    assert data["unsent"] == 2
    assert 90 <= data["oldest_age"] < 150
    OutboxEvent.objects.update(sent_at=timezone.now())
    assert OutboxCollector(ttl=0).snapshot().data == {"unsent": 0, "oldest_age": None}


def test_a_fresh_reading_is_reused_within_the_ttl(broker, settings):
    collector = CeleryQueueCollector(ttl=60, timeout=2)
    assert collector.snapshot().data["queues"]["default"] == 0
    producer = Celery("probe", broker=settings.REDIS_URL)
    producer.conf.broker_transport_options = {"global_keyprefix": broker}
    producer.send_task("probe.task", queue="default")
    assert collector.snapshot().data["queues"]["default"] == 0  # cached
    assert CeleryQueueCollector(ttl=0).snapshot().data["queues"]["default"] == 1
