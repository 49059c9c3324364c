"""Graph worker tasks: routing, effects on the store, idempotency, threshold events."""

from __future__ import annotations

import pytest

from bellamy.events import routes
from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.models import OutboxEvent, ProcessedEvent
from graph import tasks
from graph.stores import get_graph_store
from tests.graph_store.conftest import HALF_LIFE, T0

pytestmark = [pytest.mark.services, pytest.mark.django_db]

WHEN = "2026-01-01T00:00:00.000000Z"  # == T0


def envelope(event_type: str, data: dict, *, key="1", occurred_at: str = WHEN) -> dict:
    return Envelope(type=event_type, key=str(key), data=data, occurred_at=occurred_at).to_dict()


def like(liker: int, author: int, **kwargs) -> dict:
    return envelope("post.liked", {"post_id": 1, "author_id": author, "user_id": liker}, **kwargs)


def weight_events() -> list[dict]:
    return [payload["data"] for payload in
            OutboxEvent.objects.filter(type="relationship_weight.updated").order_by("id")
            .values_list("payload", flat=True)]


def test_graph_routes_table():
    assert routes.GRAPH_ROUTES == {
        "friendship.accepted": (routes.Route("graph.add_friendship_task", "graph"),),
        "friendship.removed": (routes.Route("graph.remove_friendship_task", "graph"),),
        "user.blocked": (routes.Route("graph.block_task", "graph"),),
        "post.liked": (routes.Route("graph.like_task", "graph"),),
        "post.unliked": (routes.Route("graph.unlike_task", "graph"),),
        "comment.created": (routes.Route("graph.comment_task", "graph"),),
        "post.created": (routes.Route("graph.post_mentions_task", "graph"),),
    }


def test_routed_task_names_are_registered_and_run(configured_backend, ids):
    # given: the graph route of post.liked, looked up by its Celery name (as dispatch() does)
    (route,) = routes.GRAPH_ROUTES["post.liked"]
    task = app.tasks[route.task]

    # when: enqueued like dispatch() does (eager Celery runs it inline)
    task.apply_async(args=[like(ids(1), ids(2))], queue=route.queue)

    # then: the like task strengthened liker → author, and every graph route is registered
    assert get_graph_store().weight(ids(1), ids(2), at=T0) == 1.0
    assert all(r.task in app.tasks for rs in routes.GRAPH_ROUTES.values() for r in rs)


def test_same_envelope_twice_counts_once(configured_backend, ids):
    # given: one like envelope
    payload = like(ids(1), ids(2))

    # when: delivered twice
    tasks.like_task(payload)
    tasks.like_task(payload)

    # then: the weight grew once, and the event is recorded once
    assert get_graph_store().weight(ids(1), ids(2), at=T0) == 1.0
    assert ProcessedEvent.objects.filter(event_id=payload["id"], task_name="graph.like_task").count() == 1
    # and a different like event adds again
    tasks.like_task(like(ids(1), ids(2)))
    assert get_graph_store().weight(ids(1), ids(2), at=T0) == 2.0


def test_like_unlike_comment_and_mentions_weights(configured_backend, ids):
    a, b, c = ids(1), ids(2), ids(3)
    store = get_graph_store()
    tasks.comment_task(envelope("comment.created", {"comment_id": 1, "post_id": 1, "author_id": b,
                                                    "user_id": a, "mention_ids": [c, c, a]}))
    assert store.weight(a, b, at=T0) == 2.0
    assert store.weight(a, c, at=T0) == 0.5
    assert store.weight(a, a, at=T0) == 0.0

    tasks.unlike_task(envelope("post.unliked", {"post_id": 1, "author_id": b, "user_id": a}))
    assert store.weight(a, b, at=T0) == 1.0
    tasks.unlike_task(envelope("post.unliked", {"post_id": 1, "author_id": b, "user_id": a}))
    tasks.unlike_task(envelope("post.unliked", {"post_id": 1, "author_id": b, "user_id": a}))
    assert store.weight(a, b, at=T0) == 0.0  # floored

    tasks.post_mentions_task(envelope("post.created", {
        "post_id": 2, "author_id": b, "visibility": "public", "hashtags": [],
        "mention_ids": [a, b, c], "created_at": WHEN}))
    assert store.top_relations(b, 10, at=T0) == [(a, 0.5), (c, 0.5)]


def test_event_time_drives_decay(configured_backend, ids):
    # given: a comment (2.0) at T0, then a like one half-life later
    tasks.comment_task(envelope("comment.created", {"comment_id": 1, "post_id": 1, "author_id": ids(2),
                                                    "user_id": ids(1), "mention_ids": []}))
    tasks.like_task(like(ids(1), ids(2), occurred_at="2026-01-15T00:00:00.000000Z"))

    # then: 2.0 halved + 1.0
    assert get_graph_store().weight(ids(1), ids(2), at=T0 + HALF_LIFE) == 2.0


def test_self_like_is_ignored(configured_backend, ids):
    tasks.like_task(like(ids(1), ids(1)))
    assert get_graph_store().top_relations(ids(1), 10, at=T0) == []
    assert weight_events() == []


def test_threshold_crossings_publish_weight_events(configured_backend, ids):
    a, b = ids(1), ids(2)
    comment = {"comment_id": 1, "post_id": 1, "author_id": b, "user_id": a, "mention_ids": []}

    # when: 2.0 + 2.0 (4.0, below 5.0): no event
    tasks.comment_task(envelope("comment.created", comment))
    tasks.comment_task(envelope("comment.created", comment))
    assert weight_events() == []

    # when: a like reaches exactly 5.0: one upward crossing; another like (6.0): none
    tasks.like_task(like(a, b))
    tasks.like_task(like(a, b))
    assert weight_events() == [{"from_user_id": a, "to_user_id": b, "weight": 5.0}]

    # when: unliked twice: 5.0 (still at/above), then 4.0 (downward crossing)
    tasks.unlike_task(envelope("post.unliked", {"post_id": 1, "author_id": b, "user_id": a}))
    tasks.unlike_task(envelope("post.unliked", {"post_id": 1, "author_id": b, "user_id": a}))
    assert weight_events() == [
        {"from_user_id": a, "to_user_id": b, "weight": 5.0},
        {"from_user_id": a, "to_user_id": b, "weight": 4.0},
    ]
    event = OutboxEvent.objects.filter(type="relationship_weight.updated").first()
    assert event.key == str(a)


def test_friendship_accept_and_remove(configured_backend, ids):
    store = get_graph_store()
    tasks.add_friendship_task(envelope("friendship.accepted",
                                       {"request_id": 1, "from_user_id": ids(1), "to_user_id": ids(2)}))
    assert store.friend_ids(ids(1)) == {ids(2)}

    tasks.remove_friendship_task(envelope("friendship.removed", {"user_id": ids(2), "friend_id": ids(1)}))
    assert store.friend_ids(ids(1)) == set()


def test_block_removes_edge_and_weights_and_reports_the_drop(configured_backend, ids):
    # given: friends, 6.0 from 1 → 2 (already announced) and 1.0 from 2 → 1
    a, b = ids(1), ids(2)
    store = get_graph_store()
    store.add_friendship(a, b)
    store.strengthen(a, b, 6.0, at=T0)
    store.strengthen(b, a, 1.0, at=T0)

    # when: 2 blocks 1
    tasks.block_task(envelope("user.blocked", {"blocker_id": b, "blocked_id": a}))

    # then: no edge, no weights, one downward event (only 1 → 2 was above the threshold)
    assert store.friend_ids(a) == set()
    assert store.weight(a, b, at=T0) == 0.0
    assert store.weight(b, a, at=T0) == 0.0
    assert weight_events() == [{"from_user_id": a, "to_user_id": b, "weight": 0.0}]
