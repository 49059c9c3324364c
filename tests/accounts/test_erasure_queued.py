"""Work still queued for a user when the account is erased recreates nothing.

Celery is pointed at the real Redis broker (tasks are enqueued, not run): the user's post,
like, comment and friend request are committed and their events dispatched, so their tasks wait
in the real queues; then the account is erased. The erasure's own tasks run first (the workers
would take them in any order), then the user's older ones — the late ``post.created``,
``post.liked``, ``comment.created``, ``friendship.requested`` — exactly as they were serialised
into the broker. Nothing of the user may come back: no row, no notification, no graph node, no
cache key, no trend contribution.
"""

from __future__ import annotations

import pytest

from bellamy.accounts import lifecycle
from bellamy.celery import app
from feed.models import ContentScore
from graph import services as graph_services
from notifications.stores import get_notification_store
from posts import services as post_services
from posts.models import Post
from tests.accounts.world import graph_footprint, pg_footprint, redis_keys
from trends.models import TrendContribution

pytestmark = pytest.mark.django_db(transaction=True)

QUEUES = ("scoring", "graph", "notifications", "trends", "default")
LIFECYCLE = ("user.deactivated", "user.deleted", "user.content_erased")


def queued(broker) -> list[tuple[str, list[dict]]]:
    """Take every message waiting in the queues (oldest first per queue), emptying them."""
    messages = []
    for queue in QUEUES:
        messages += broker.messages(queue)
        broker.client.delete(f"{broker.prefix}{queue}")
    return messages


def run(messages) -> None:
    for name, payload in messages:
        app.tasks[name].apply(args=[payload], throw=True)


def drain(broker) -> int:
    """Run queued tasks (and those they queue) until the queues are empty; return how many."""
    count = 0
    while messages := queued(broker):
        run(messages)
        count += len(messages)
    return count


def is_lifecycle(payload) -> bool:
    events = payload if isinstance(payload, list) else [payload]
    return all(event["type"] in LIFECYCLE for event in events)


@pytest.mark.parametrize("husk_deleted_first", [True, False], ids=["husk-deleted", "husk-present"])
def test_events_queued_before_the_erasure_recreate_nothing(stores, celery_broker, user_factory, husk_deleted_first):
    leaver, ann, bob = (user_factory(username=name) for name in ("leaver", "ann", "bob"))
    request = graph_services.friend_request_send(from_user=leaver, to_user_id=ann.pk)
    graph_services.friend_request_accept(user=ann, request_id=request.pk)
    a_post = post_services.post_create(author=ann, content="Morning #coffee")
    drain(celery_broker)
    # given the leaver's burst, committed, its tasks still waiting in the broker
    post_services.post_create(author=leaver, content="Late #latehash for @ann")
    post_services.post_like(post=a_post, user=leaver)
    post_services.comment_create(post=a_post, author=leaver, content="Hi @ann")
    graph_services.friend_request_send(from_user=leaver, to_user_id=bob.pk)
    late = queued(celery_broker)
    assert sorted({name for name, _ in late}) == sorted({
        "feed.rescore_posts_task", "graph.apply_events_task", "notifications.notify_task",
        "trends.sync_posts_task", "feed.invalidate_feeds_task",
    })
    # when the account is erased and the erasure's tasks run first
    assert lifecycle.account_erase(user_id=leaver.pk, force=True) is not None
    erasure_tasks = queued(celery_broker)
    assert all(is_lifecycle(payload) for _, payload in erasure_tasks)
    run(erasure_tasks)
    drain(celery_broker)  # the user.content_erased handlers
    if husk_deleted_first:
        assert lifecycle.account_erasures_complete() == [leaver.pk]
    # and then the leaver's older tasks, as they were queued
    run(late)
    drain(celery_broker)  # whatever those queued in turn
    lifecycle.account_erasures_complete()

    # then nothing of the leaver came back
    assert pg_footprint(leaver.pk) == {}
    store = get_notification_store()
    records = [record for batch in store.export_batches() for record in batch]
    assert [(r.recipient_id, r.type) for r in records if leaver.pk in r.actors or r.recipient_id == leaver.pk] == []
    assert graph_footprint(leaver.pk) == {"friends": 0, "weights_out": 0}
    assert get_graph_store_weight(ann.pk, leaver.pk) == 0.0
    assert redis_keys(leaver.pk) == []
    assert TrendContribution.objects.filter(hashtag__name="latehash").count() == 0
    assert not Post.objects.filter(author_id=leaver.pk).exists()
    # while ann's post is recounted and rescored without the leaver's like and comment
    a_post.refresh_from_db()
    score = ContentScore.objects.get(post=a_post)
    assert (a_post.like_count, a_post.comment_count, score.likes, score.comments, score.distinct_engagers) == (0, 0, 0, 0, 0)
    # every notification of this world involved the leaver (the late friend request to bob was
    # refused, ann's post notified only the leaver): the store is empty
    assert store.count() == 0


def get_graph_store_weight(from_id: int, to_id: int) -> float:
    from graph.stores import get_graph_store

    return get_graph_store().weight(from_id, to_id)
