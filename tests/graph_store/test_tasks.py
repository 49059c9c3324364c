"""The graph worker (``graph.apply_events_task`` → :mod:`graph.sync`) on both stores: routing,
effects, batches (in order, partly handled, statement counts), exactly-once on Neo4j across a
rolled-back task, threshold events."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bellamy.celery import app
from bellamy.events import routes
from bellamy.events.envelope import Envelope
from bellamy.events.models import OutboxEvent, ProcessedEvent
from graph import tasks
from graph.models import Friendship
from graph.projection import Interaction
from graph.stores import get_graph_store
from tests.graph_store.conftest import HALF_LIFE, T0

pytestmark = [pytest.mark.services, pytest.mark.django_db]

WHEN = "2026-01-01T00:00:00.000000Z"  # == T0


def envelope(event_type: str, data: dict, *, key="1", occurred_at: str = WHEN) -> dict:
    return Envelope(type=event_type, key=str(key), data=data, occurred_at=occurred_at).to_dict()


def like(liker: int, author: int, **kwargs) -> dict:
    return envelope("post.liked", {"post_id": 1, "author_id": author, "user_id": liker}, **kwargs)


def unlike(liker: int, author: int, **kwargs) -> dict:
    return envelope("post.unliked", {"post_id": 1, "author_id": author, "user_id": liker}, **kwargs)


def comment(commenter: int, author: int, mentions=(), **kwargs) -> dict:
    return envelope("comment.created", {"comment_id": 1, "post_id": 1, "author_id": author, "user_id": commenter,
                                        "mention_ids": list(mentions)}, **kwargs)


def block(blocker: int, blocked: int, **kwargs) -> dict:
    return envelope("user.blocked", {"blocker_id": blocker, "blocked_id": blocked}, **kwargs)


def run(*payloads: dict):
    """Run the graph task on a batch, as the worker does (through ``batch_task``)."""
    return tasks.apply_events_task(list(payloads))


def weight_events() -> list[dict]:
    return [payload["data"] for payload in
            OutboxEvent.objects.filter(type="relationship_weight.updated").order_by("id")
            .values_list("payload", flat=True)]


def test_graph_routes_table():
    route = routes.Route("graph.apply_events_task", "graph")
    assert routes.GRAPH_ROUTES == {
        event_type: (route,) for event_type in (
            "friendship.accepted", "friendship.removed", "user.blocked", "post.liked", "post.unliked",
            "comment.created", "post.created")
    }


def test_routed_task_is_registered_and_runs(configured_backend, ids):
    # given: the graph route of post.liked, looked up by its Celery name (as dispatch() does)
    (route,) = routes.GRAPH_ROUTES["post.liked"]
    task = app.tasks[route.task]

    # when: enqueued like dispatch_batch() does, with a list (eager Celery runs it inline)
    task.apply_async(args=[[like(ids(1), ids(2))]], queue=route.queue)

    # then: the like strengthened liker → author
    assert get_graph_store().weight(ids(1), ids(2), at=T0) == 1.0


def test_same_envelope_twice_counts_once(configured_backend, ids):
    # given: one like envelope
    payload = like(ids(1), ids(2))

    # when: delivered twice, the second time inside a batch with a new like
    run(payload)
    run(payload, like(ids(1), ids(2)))

    # then: the weight grew twice (the repeat was skipped), and the event is recorded once
    assert get_graph_store().weight(ids(1), ids(2), at=T0) == 2.0
    assert ProcessedEvent.objects.filter(event_id=payload["id"], task_name="graph.apply_events_task").count() == 1


def test_like_unlike_comment_and_mentions_weights(configured_backend, ids):
    a, b, c = ids(1), ids(2), ids(3)
    store = get_graph_store()
    run(comment(a, b, [c, c, a]))
    assert store.weight(a, b, at=T0) == 2.0
    assert store.weight(a, c, at=T0) == 0.5
    assert store.weight(a, a, at=T0) == 0.0

    run(unlike(a, b))
    assert store.weight(a, b, at=T0) == 1.0
    run(unlike(a, b), unlike(a, b))
    assert store.weight(a, b, at=T0) == 0.0  # floored

    run(envelope("post.created", {"post_id": 2, "author_id": b, "visibility": "public", "hashtags": [],
                                  "mention_ids": [a, b, c], "created_at": WHEN}))
    assert store.top_relations(b, 10, at=T0) == [(a, 0.5), (c, 0.5)]


def test_event_time_drives_decay(configured_backend, ids):
    # given: a comment (2.0) at T0, then a like one half-life later — in one batch
    run(comment(ids(1), ids(2)), like(ids(1), ids(2), occurred_at="2026-01-15T00:00:00.000000Z"))

    # then: 2.0 halved + 1.0
    assert get_graph_store().weight(ids(1), ids(2), at=T0 + HALF_LIFE) == 2.0


def test_self_like_is_ignored(configured_backend, ids):
    run(like(ids(1), ids(1)))
    assert get_graph_store().top_relations(ids(1), 10, at=T0) == []
    assert weight_events() == []


def test_threshold_crossings_publish_weight_events(configured_backend, ids):
    a, b = ids(1), ids(2)

    # when: 2.0 + 2.0 (4.0, below 5.0): no event
    run(comment(a, b), comment(a, b))
    assert weight_events() == []

    # when: a like reaches exactly 5.0: one upward crossing; another like (6.0): none
    run(like(a, b), like(a, b))
    assert weight_events() == [{"from_user_id": a, "to_user_id": b, "weight": 5.0}]

    # when: unliked twice: 5.0 (still at/above), then 4.0 (downward crossing)
    run(unlike(a, b))
    run(unlike(a, b))
    assert weight_events() == [
        {"from_user_id": a, "to_user_id": b, "weight": 5.0},
        {"from_user_id": a, "to_user_id": b, "weight": 4.0},
    ]
    event = OutboxEvent.objects.filter(type="relationship_weight.updated").first()
    assert event.key == str(a)


def test_friend_edges_follow_postgresql(configured_backend, user_factory, users_in_block):
    # given: A and B friends in PostgreSQL, C and D not
    a, b, c, d = (user_factory() for _ in range(4))
    Friendship.objects.create(user_low_id=a.id, user_high_id=b.id)
    store = get_graph_store()

    # when: both accepts arrive
    run(envelope("friendship.accepted", {"request_id": 1, "from_user_id": a.id, "to_user_id": b.id}),
        envelope("friendship.accepted", {"request_id": 2, "from_user_id": c.id, "to_user_id": d.id}))
    # then: only the friendship PostgreSQL has is in the projection (C—D was removed meanwhile)
    assert store.friend_ids(a.id) == {b.id}
    assert store.friend_ids(c.id) == set()

    # when: A and B are no longer friends, and the remove overtakes nothing
    Friendship.objects.all().delete()
    run(envelope("friendship.removed", {"user_id": b.id, "friend_id": a.id}))
    assert store.friend_ids(a.id) == set()

    # when: the old accept is redelivered under a new id after the remove: still converges
    run(envelope("friendship.accepted", {"request_id": 1, "from_user_id": a.id, "to_user_id": b.id}))
    assert store.friend_ids(a.id) == set()


def test_block_removes_edge_and_weights_and_reports_the_drop(configured_backend, ids):
    # given: friends in the projection only, 6.0 from 1 → 2 (already announced) and 1.0 from 2 → 1
    a, b = ids(1), ids(2)
    store = get_graph_store()
    store.add_friendship(a, b)
    store.strengthen(a, b, 6.0, at=T0)
    store.strengthen(b, a, 1.0, at=T0)

    # when: 2 blocks 1 (PostgreSQL has no friendship left)
    run(block(b, a))

    # then: no edge, no weights, one downward event (only 1 → 2 was above the threshold)
    assert store.friend_ids(a) == set()
    assert store.weight(a, b, at=T0) == 0.0
    assert store.weight(b, a, at=T0) == 0.0
    assert weight_events() == [{"from_user_id": a, "to_user_id": b, "weight": 0.0}]
    assert Interaction.objects.count() == 0


def test_a_batch_applies_in_delivery_order_across_types(configured_backend, ids):
    # given: one batch — a like, a block of the pair, then a comment
    a, b = ids(1), ids(2)
    run(like(a, b), block(b, a), comment(a, b))
    # then: the block cleared the like, the later comment counts
    assert get_graph_store().weight(a, b, at=T0) == 2.0


def test_a_partly_handled_batch_applies_only_the_new_events(configured_backend, ids):
    a, b = ids(1), ids(2)
    first, second = like(a, b), comment(a, b)
    run(first)
    # when: a batch repeating the first event, plus a new one
    run(second, first)
    # then: 1.0 + 2.0, each once
    assert get_graph_store().weight(a, b, at=T0) == 3.0
    assert ProcessedEvent.objects.filter(task_name="graph.apply_events_task").count() == 2


def test_a_batch_rolled_back_after_the_store_wrote_is_not_applied_twice(configured_backend, ids):
    # given: a like that makes 4.0 → 5.0 (a crossing), handled by a task whose transaction
    # fails after the store wrote (a worker killed before commit)
    a, b = ids(1), ids(2)
    get_graph_store().strengthen(a, b, 4.0, at=T0)
    payload = like(a, b)
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.apply_events_task([payload])
        raise RuntimeError("killed before commit")
    assert ProcessedEvent.objects.filter(event_id=payload["id"]).count() == 0
    assert weight_events() == []

    # when: the batch is redelivered
    run(payload)

    # then: the weight counts the like once, and the crossing it caused is published (once):
    # Neo4j kept its write and the step it recorded; the ORM store's write rolled back with the task
    assert get_graph_store().weight(a, b, at=T0) == 5.0
    assert weight_events() == [{"from_user_id": a, "to_user_id": b, "weight": 5.0}]


def random_events(ids, seed: int, count: int) -> list[dict]:
    """A seeded stream of likes, unlikes, comments with mentions and blocks on 6 users over days."""
    rng = random.Random(seed)
    users = [ids(n) for n in range(1, 7)]
    moment = T0
    events = []
    for _ in range(count):
        moment += timedelta(hours=rng.randrange(0, 30))
        at = moment.isoformat().replace("+00:00", "Z")
        x, y = rng.sample(users, 2)
        roll = rng.random()
        if roll < 0.45:
            events.append(like(x, y, occurred_at=at))
        elif roll < 0.6:
            events.append(unlike(x, y, occurred_at=at))
        elif roll < 0.93:
            events.append(comment(x, y, rng.sample(users, 2), occurred_at=at))
        else:
            events.append(block(x, y, occurred_at=at))
    return events


def snapshot(ids) -> dict:
    store = get_graph_store()
    users = [ids(n) for n in range(1, 7)]
    at = T0 + timedelta(days=40)
    return {u: store.top_relations(u, 10, at=at) for u in users}


def test_one_batch_and_one_event_at_a_time_give_identical_results(configured_backend, ids, settings):
    # given: 120 events, handled one at a time
    events = random_events(ids, seed=17, count=120)
    for payload in events:
        run(payload)
    one_by_one = snapshot(ids)
    published = weight_events()
    # when: the store is emptied and the same events are handled as batches of 50, each
    # repeating the last 10 events of the one before (partly handled batches), then again all
    # at once (everything already handled)
    get_graph_store().clear(force=True)
    OutboxEvent.objects.all().delete()
    ProcessedEvent.objects.all().delete()
    for start in range(0, len(events), 40):
        run(*events[max(0, start - 10):start + 40])
    run(*events)
    # then: the same weights and the same threshold events
    assert snapshot(ids) == one_by_one
    assert weight_events() == published
    assert any(one_by_one.values())


def _statements(configured_backend, payloads) -> tuple[int, int]:
    """(PostgreSQL statements, Neo4j queries) of one task run on ``payloads``."""
    from neomodel import db

    calls = []
    real = db.cypher_query

    def counted(query, params=None, *args, **kwargs):
        calls.append(query)
        return real(query, params, *args, **kwargs)

    db.cypher_query = counted
    try:
        with CaptureQueriesContext(connection) as captured:
            run(*payloads)
    finally:
        db.cypher_query = real
    return len(captured), len(calls)


def test_statements_per_batch_do_not_grow_with_its_size(configured_backend, ids, user_factory, users_in_block):
    # given: batches of 2 and of 50 events of every kind (likes, comments with mentions, accepts)
    friends = [user_factory() for _ in range(4)]
    Friendship.objects.create(user_low_id=friends[0].id, user_high_id=friends[1].id)

    def batch(size: int, offset: int) -> list[dict]:
        events = []
        for n in range(size):
            a, b = ids(offset + n), ids(offset + n + 1)
            kind = n % 3
            if kind == 0:
                events.append(like(a, b))
            elif kind == 1:
                events.append(comment(a, b, [ids(offset + n + 2)]))
            else:
                events.append(envelope("friendship.accepted", {"request_id": n, "from_user_id": friends[n % 2].id,
                                                               "to_user_id": friends[2 + n % 2].id}))
        return events

    small = _statements(configured_backend, batch(3, 1000))
    large = _statements(configured_backend, batch(51, 2000))
    # then: the same number of statements on each side (PostgreSQL; Neo4j round trips)
    assert small == large
    assert small[0] > 0
