"""The production event path on the real broker: outbox → Kafka → forwarder → task."""

import uuid

import pytest
from django.db import transaction
from kafka import KafkaConsumer, KafkaProducer

from bellamy.events.envelope import Envelope
from bellamy.events.models import OutboxEvent
from bellamy.events.registry import DEAD_LETTER_TOPIC, topic_for
from bellamy.events.services import publish
from tests.events import recorder
from tests.events.conftest import KAFKA_SERVERS, wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_published_event_reaches_the_task_exactly_once(handled, start_forwarder):
    # Given a running forwarder, when a post.created event is committed,
    forwarder = start_forwarder()
    with transaction.atomic():
        envelope = publish("post.created", key=42, actor_id=42, data={"post_id": 9, "author_id": 42})
    # then it is sent (marked in the outbox) and the task runs once with its data.
    assert OutboxEvent.objects.get().sent_at is not None
    assert wait_until(lambda: len(handled) == 1)
    stats = forwarder.stop()
    assert handled == [(envelope.id, "post.created", "42", {"post_id": 9, "author_id": 42})]
    assert (stats.dispatched, stats.dead_lettered) == (1, 0)


def test_rolled_back_transaction_sends_nothing_to_kafka(handled, start_forwarder, kafka_bus):
    forwarder = start_forwarder()
    with pytest.raises(ValueError):
        with transaction.atomic():
            publish("post.created", key=1, data={"post_id": 1})
            raise ValueError("rollback")
    with transaction.atomic():
        marker = publish("post.liked", key=1, data={"marker": True})
    # The only record that reaches the task is the marker published after the rollback.
    assert wait_until(lambda: len(handled) == 1)
    forwarder.stop()
    assert [h[0] for h in handled] == [marker.id]


def test_the_same_message_delivered_twice_runs_the_task_once(handled, start_forwarder, kafka_bus):
    # Given one envelope produced twice to its topic (a relay retry after a lost ack),
    envelope = Envelope(type="post.created", key="5", data={"post_id": 5})
    producer = KafkaProducer(bootstrap_servers=KAFKA_SERVERS)
    from bellamy.events.backends.kafka import ensure_topics

    ensure_topics(KAFKA_SERVERS, [topic_for("post.created", prefix=kafka_bus)])
    for _ in range(2):
        producer.send(topic_for("post.created", prefix=kafka_bus), key=b"5", value=envelope.encode())
    producer.flush()
    producer.close()
    forwarder = start_forwarder()
    assert wait_until(lambda: forwarder.forwarder.stats.dispatched == 2)
    forwarder.stop()
    # then the task's effect happened once.
    assert handled == [(envelope.id, "post.created", "5", {"post_id": 5})]


def test_poison_message_goes_to_the_dead_letter_topic_and_the_next_one_is_processed(
    handled, start_forwarder, kafka_bus
):
    from bellamy.events.backends.kafka import ensure_topics

    topic = topic_for("post.created", prefix=kafka_bus)
    dead_letter = topic_for(DEAD_LETTER_TOPIC, prefix=kafka_bus)
    ensure_topics(KAFKA_SERVERS, [topic, dead_letter])
    good = Envelope(type="post.created", key="1", data={"post_id": 1})
    wrong_type = Envelope(type="post.liked", key="1", data={})
    producer = KafkaProducer(bootstrap_servers=KAFKA_SERVERS)
    # Given, on one partition (one key): garbage, an envelope on the wrong topic, then a good one,
    for value in (b"\xff not json", wrong_type.encode(), good.encode()):
        producer.send(topic, key=b"1", value=value)
    producer.flush()
    producer.close()
    forwarder = start_forwarder()
    assert wait_until(lambda: len(handled) == 1)
    stats = forwarder.stop()
    # then the good one ran and both bad ones are in the dead-letter topic with their reason.
    assert handled == [(good.id, "post.created", "1", {"post_id": 1})]
    assert (stats.dispatched, stats.dead_lettered) == (1, 2)
    consumer = KafkaConsumer(dead_letter, bootstrap_servers=KAFKA_SERVERS, auto_offset_reset="earliest",
                             group_id=f"dlq-{uuid.uuid4().hex}", consumer_timeout_ms=10000)
    letters = []
    for record in consumer:
        letters.append((record.value, dict(record.headers)["reason"].decode(), dict(record.headers)["origin_topic"].decode()))
        if len(letters) == 2:
            break
    consumer.close()
    assert letters[0][0] == b"\xff not json"
    assert letters[0][1].startswith("not JSON")
    assert letters[1] == (
        wrong_type.encode(), f"envelope type 'post.liked' does not belong on topic '{topic}'", topic,
    )


def test_two_forwarders_in_one_group_share_partitions_without_loss_or_duplicates(
    handled, start_forwarder, kafka_bus
):
    # Given two forwarders in one consumer group,
    group = f"{kafka_bus}shared"
    first, second = start_forwarder(group), start_forwarder(group)
    # once the group has settled with a share for each,
    assert wait_until(lambda: first.forwarder.assigned and second.forwarder.assigned
                      and not first.forwarder.assigned & second.forwarder.assigned, timeout=60)
    # when 120 events over 12 keys are committed,
    ids = []
    for n in range(120):
        with transaction.atomic():
            ids.append(publish("post.created", key=n % 12, data={"n": n}).id)
    # then every event is handled exactly once in total,
    assert wait_until(lambda: len(handled) >= 120, timeout=60)
    stats = [first.stop(), second.stop()]
    assert sorted(h[0] for h in handled) == sorted(ids)
    # and both members received a share of the work (3 partitions split between them).
    assert sum(s.dispatched for s in stats) >= 120
    assert all(s.dispatched > 0 for s in stats), [s.dispatched for s in stats]


def test_events_of_one_key_arrive_in_publish_order(handled, start_forwarder):
    forwarder = start_forwarder()
    expected = {key: [] for key in ("a", "b", "c")}
    for n in range(60):
        key = "abc"[n % 3]
        with transaction.atomic():
            expected[key].append(publish("post.liked", key=key, data={"n": n}).id)
    assert wait_until(lambda: len(handled) == 60, timeout=60)
    forwarder.stop()
    for key, ids in expected.items():
        assert [h[0] for h in handled if h[2] == key] == ids


def test_background_relay_sends_committed_events_off_the_request_path(handled, start_forwarder, settings):
    # Given the background relay (the production default with Kafka),
    settings.BELLAMY_OUTBOX_RELAY = "background"
    forwarder = start_forwarder()
    # when 30 events are committed in 30 transactions,
    ids = []
    for n in range(30):
        with transaction.atomic():
            ids.append(publish("post.created", key=n % 4, data={"n": n}).id)
    # then the relay thread sends them all and each task runs once.
    assert wait_until(lambda: len(handled) == 30, timeout=60)
    forwarder.stop()
    assert sorted(h[0] for h in handled) == sorted(ids)
    assert wait_until(lambda: OutboxEvent.objects.filter(sent_at__isnull=True).count() == 0)


def test_forwarder_hands_each_route_one_task_per_batch_on_the_real_brokers(batches, start_forwarder, celery_broker):
    # Given 100 committed events of two types over ten keys (post.created goes to the batch
    # recorder on queue default and the per-event recorder on queue graph; post.liked to the
    # batch recorder only), and Celery on the real Redis broker (tasks are enqueued, not run),
    with transaction.atomic():
        published = [
            publish("post.created", key=n % 7, data={"n": n}) if n % 10 < 7
            else publish("post.liked", key="abc"[n % 3], data={"n": n})
            for n in range(100)
        ]
    # when a forwarder with batches of at most 40 records reads them,
    forwarder = start_forwarder(batch_size=40, batch_wait_ms=3000)
    assert wait_until(lambda: forwarder.forwarder.stats.dispatched == 100, timeout=60)
    stats = forwarder.stop()
    # then it made three batches (40, 40, 20) and enqueued one task per route per batch:
    default, graph = celery_broker.messages("default"), celery_broker.messages("graph")
    assert (stats.batches, stats.dispatched, stats.commit_failures) == (3, 100, 0)
    assert [(name, len(batch)) for name, batch in default] == [(recorder.BATCH_TASK_NAME, 40),
                                                               (recorder.BATCH_TASK_NAME, 40),
                                                               (recorder.BATCH_TASK_NAME, 20)]
    # the graph route got, per batch, exactly that batch's post.created envelopes, in the same order,
    per_batch_created = [[e for e in batch if e["type"] == "post.created"] for _name, batch in default]
    assert [batch for _name, batch in graph] == [b for b in per_batch_created if b]
    assert {name for name, _batch in graph} == {recorder.TASK_NAME}
    assert stats.tasks == len(default) + len(graph)
    # every event was enqueued once, and the events of each key are in publication order.
    delivered = [e for _name, batch in default for e in batch]
    assert sorted(e["id"] for e in delivered) == sorted(e.id for e in published)
    for key in {e.key for e in published}:
        assert [e["id"] for e in delivered if e["key"] == key] == [e.id for e in published if e.key == key]
    assert delivered[0] == published[[e.id for e in published].index(delivered[0]["id"])].to_dict()


def test_a_fresh_consumer_group_joins_once_and_misses_no_event_written_before_or_as_it_joined(
    handled, start_forwarder
):
    # Given ten events committed before the consumer group exists,
    early = []
    for n in range(10):
        with transaction.atomic():
            early.append(publish("post.liked", key=n % 3, data={"n": n}).id)
    # when a forwarder of a new group starts and ten more are committed the moment it is assigned,
    forwarder = start_forwarder()
    assert wait_until(lambda: forwarder.forwarder.assigned, timeout=60)
    late = []
    for n in range(10, 20):
        with transaction.atomic():
            late.append(publish("post.liked", key=n % 3, data={"n": n}).id)
    # then all twenty are handled once, in order per key, from the earliest offset,
    assert wait_until(lambda: len(handled) == 20, timeout=60)
    stats = forwarder.stop()
    every = early + late
    for key in range(3):
        assert [h[0] for h in handled if h[2] == str(key)] == [i for n, i in enumerate(every) if n % 3 == key]
    # by a group that settled at its first assignment: no second rebalance right after joining
    # (which used to revoke the first batch's partitions and refuse its commit).
    assert (stats.assignments, stats.commit_failures, stats.reconnects) == (1, 0, 0)
