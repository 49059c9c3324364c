"""publish(), the outbox and the in-process bus (the embedded default)."""

import uuid

import pytest
from django.db import transaction

from bellamy.events.envelope import Envelope
from bellamy.events.errors import EnvelopeDecodeError, EventPayloadError, UnknownEventType
from bellamy.events.idempotency import run_once
from bellamy.events.models import OutboxEvent, ProcessedEvent
from bellamy.events.registry import all_topics, topic_for, type_of_topic
from bellamy.events.services import prune_outbox, publish, relay_all_pending, relay_outbox
from tests.events import recorder

pytestmark = pytest.mark.django_db(transaction=True)


def test_committed_publish_is_dispatched_once_after_a_json_round_trip(handled):
    # Given a routed type, when published in a committed transaction,
    with transaction.atomic():
        envelope = publish("post.created", key=7, actor_id=7, data={"post_id": 1, "author_id": 7, "hashtags": ("a",)})
        # then nothing runs before commit,
        assert handled == []
    # and after commit the task received the JSON form (the tuple became a list), once.
    assert handled == [(envelope.id, "post.created", "7", {"post_id": 1, "author_id": 7, "hashtags": ["a"]})]
    row = OutboxEvent.objects.get()
    assert (row.type, row.key, row.attempts, row.sent_at is not None) == ("post.created", "7", 1, True)
    assert row.payload == {
        "id": envelope.id, "type": "post.created", "version": 1, "occurred_at": envelope.occurred_at,
        "actor_id": 7, "key": "7", "data": {"post_id": 1, "author_id": 7, "hashtags": ["a"]},
    }


def test_rolled_back_transaction_publishes_nothing(handled):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            publish("post.created", key=1, data={"post_id": 1})
            raise RuntimeError("the caller's write failed")
    assert (OutboxEvent.objects.count(), handled) == (0, [])


@pytest.mark.parametrize(
    ("event_type", "data", "error", "message"),
    [
        ("post.exploded", {}, UnknownEventType, "event type 'post.exploded' is not registered"),
        ("post.created", {"when": object()}, EventPayloadError, "post.created: data is not JSON-serialisable"),
        ("post.created", {"text": "x" * 300_000}, EventPayloadError, "over the limit of 262144"),
        ("post.created", ["not", "a", "dict"], EventPayloadError, "post.created: data must be a dict, got list"),
    ],
)
def test_bad_events_are_refused_in_the_callers_transaction(handled, event_type, data, error, message):
    # Given a bad event, when published, then it raises at once and nothing is written or sent.
    with pytest.raises(error, match=message.replace("(", r"\(")):
        with transaction.atomic():
            publish(event_type, key=1, data=data)
    assert (OutboxEvent.objects.count(), handled) == (0, [])


def test_failed_dispatch_stays_unsent_and_the_sweep_sends_it_in_key_order(handled, monkeypatch):
    # Given a task broker that fails, when three events of one key are published,
    from bellamy.events.backends import inprocess

    def broker_down(*args):
        raise ConnectionError("broker down")

    real = inprocess.dispatch_batch, inprocess.dispatch
    monkeypatch.setattr(inprocess, "dispatch_batch", broker_down)
    monkeypatch.setattr(inprocess, "dispatch", broker_down)
    ids = [publish("post.liked", key="k", data={"n": n}).id for n in range(3)]
    # then they all stay in the outbox with the error recorded,
    assert list(OutboxEvent.objects.values_list("sent_at", "attempts", "last_error")) == [
        (None, 1, "ConnectionError: broker down"), (None, 0, ""), (None, 0, ""),
    ]
    # and when the broker is back, the sweep sends all three, oldest first.
    monkeypatch.setattr(inprocess, "dispatch_batch", real[0])
    monkeypatch.setattr(inprocess, "dispatch", real[1])
    result = relay_all_pending()
    assert (result.sent, result.failed) == (3, 0)
    assert [h[0] for h in handled] == ids
    assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 0


def test_a_newer_event_is_held_while_an_older_one_of_its_key_is_unsent(handled):
    # Given an unsent older row of key "k" (written without its after-commit relay),
    older = Envelope(type="post.liked", key="k", data={"n": 0})
    OutboxEvent.objects.create(event_id=older.id, type=older.type, key="k", payload=older.to_dict())
    # when a newer event of the same key and one of another key are published,
    newer = publish("post.liked", key="k", data={"n": 1})
    other = publish("post.liked", key="other", data={"n": 2})
    # then only the other key went out; the sweep then sends "k" in order.
    assert [h[0] for h in handled] == [other.id]
    relay_outbox()
    assert [h[0] for h in handled] == [other.id, older.id, newer.id]


def test_the_same_event_delivered_twice_runs_the_task_once(handled):
    envelope = Envelope(type="post.created", key="1", data={"post_id": 1})
    recorder.record_event_task.apply(args=[envelope.to_dict()])
    recorder.record_event_task.apply(args=[envelope.to_dict()])
    assert handled == [(envelope.id, "post.created", "1", {"post_id": 1})]
    assert list(ProcessedEvent.objects.values_list("task_name", flat=True)) == [recorder.TASK_NAME]


def test_run_once_keeps_no_record_when_the_task_fails():
    event_id = str(uuid.uuid4())
    with pytest.raises(ZeroDivisionError):
        run_once(event_id, "t", lambda: 1 / 0)
    assert ProcessedEvent.objects.count() == 0
    assert run_once(event_id, "t", lambda: "ran") == (True, "ran")
    assert run_once(event_id, "t", lambda: "ran") == (False, None)


def test_prune_deletes_only_sent_rows_past_retention(handled):
    publish("post.created", key=1, data={})
    unsent = Envelope(type="post.created", key="2", data={})
    OutboxEvent.objects.create(event_id=unsent.id, type=unsent.type, key="2", payload=unsent.to_dict())
    assert prune_outbox(retention_hours=1, processed_retention_hours=1) == (0, 0)
    assert prune_outbox(retention_hours=0, processed_retention_hours=0) == (1, 1)
    assert list(OutboxEvent.objects.values_list("event_id", flat=True)) == [uuid.UUID(unsent.id)]


def test_envelope_decoding_rejects_what_is_not_an_envelope():
    good = Envelope(type="post.created", key="1", data={"post_id": 1})
    assert Envelope.decode(good.encode()) == good
    cases = {
        b"{not json": "not JSON",
        b"[1, 2]": "envelope must be a JSON object, got list",
        Envelope(type="post.created", key="1", data={}).encode().replace(b'"post.created"', b'"post.zapped"'):
            "unknown event type 'post.zapped'",
        b'{"id": "x", "type": "post.created", "version": 1, "occurred_at": "t", "key": "1", "data": {}}':
            "envelope id 'x' is not a UUID",
        b'{"id": "x", "type": "post.created", "version": "1", "occurred_at": "t", "key": "1", "data": {}}':
            "envelope field 'version' missing or not int",
    }
    for payload, message in cases.items():
        with pytest.raises(EnvelopeDecodeError, match=message):
            Envelope.decode(payload)


def test_topics_are_the_event_types_behind_the_prefix(settings):
    settings.BELLAMY_TOPIC_PREFIX = "staging."
    assert topic_for("post.created") == "staging.post.created"
    assert type_of_topic("staging.post.created") == "post.created"
    assert type_of_topic("post.created") is None
    assert type_of_topic("staging.post.zapped") is None
    assert all_topics()[:3] == ["staging.comment.created", "staging.content_score.updated", "staging.friendship.accepted"]
    assert len(all_topics()) == 17  # 13 + user.deactivated, user.reactivated, user.deleted, user.content_erased


def test_routing_tables_merge_in_worker_order():
    from bellamy.events.routes import Route, merge

    a, b, c = Route("x.a_task", "scoring"), Route("x.b_task", "graph"), Route("x.c_task", "trends")
    assert merge({"post.created": (a,)}, {"post.created": (b,), "post.liked": (c,)}) == {
        "post.created": (a, b),
        "post.liked": (c,),
    }


def test_events_of_one_transaction_are_relayed_in_one_pass(handled, monkeypatch):
    from bellamy.backends import get_backend

    bus = get_backend("BELLAMY_EVENTS")
    batches, send_many = [], bus.send_many
    monkeypatch.setattr(bus, "send_many", lambda envelopes: batches.append(len(envelopes)) or send_many(envelopes))
    with transaction.atomic():
        for n in range(3):
            publish("post.liked", key=n, data={"n": n})
    publish("post.liked", key=9, data={"n": 9})
    assert batches == [3, 1]
    assert [h[3]["n"] for h in handled] == [0, 1, 2, 9]
