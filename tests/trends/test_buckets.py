"""trends.services: hashtag buckets from events — exact counts, distinct authors, idempotency,
removal on delete/moderation, public posts only, and a rebuild equal to the incremental state."""

from datetime import UTC, datetime, timedelta

import pytest

from bellamy.events.models import ProcessedEvent
from bellamy.events.routes import ROUTES, TREND_ROUTES, Route
from bellamy.events.services import publish
from posts import services as post_services
from posts.models import Post
from tests.feed_scoring.helpers import deliver
from tests.trends.helpers import buckets, ledger_size, make_post
from trends.services import SyncResult, post_trend_sync, trend_buckets_rebuild

pytestmark = pytest.mark.django_db

H = datetime(2024, 5, 10, 9, 0, tzinfo=UTC)


def test_trend_routes_name_registered_tasks_on_the_trends_queue():
    import trends.tasks  # noqa: F401
    from bellamy.celery import app

    assert TREND_ROUTES == {
        "post.created": (Route("trends.post_created_task", "trends"),),
        "post.updated": (Route("trends.post_updated_task", "trends"),),
        "post.deleted": (Route("trends.post_deleted_task", "trends"),),
        "post.moderated": (Route("trends.post_moderated_task", "trends"),),
    }
    for event_type, routes in TREND_ROUTES.items():
        assert set(routes) <= set(ROUTES[event_type])
        assert all(route.task in app.tasks for route in routes)


def test_buckets_count_uses_and_distinct_authors_per_hour(user_factory):
    # given A posting #x twice in one hour, B once in that hour, A once the next hour
    a, b = user_factory(), user_factory()
    make_post(a, ["x", "y"], H + timedelta(minutes=5))
    make_post(a, ["X"], H + timedelta(minutes=50))
    make_post(b, ["x"], H + timedelta(minutes=59, seconds=59))
    make_post(a, ["x"], H + timedelta(hours=1))
    # then each hour has its uses and its exact author set
    assert buckets() == {
        ("x", H): (3, 2, sorted([a.id, b.id])),
        ("y", H): (1, 1, [a.id]),
        ("x", H + timedelta(hours=1)): (1, 1, [a.id]),
    }
    assert ledger_size() == 5


def test_unicode_variants_are_one_tag_through_the_real_event_path(user_factory):
    # given two authors posting #Café and #cafe + combining acute through the posts service
    a, b = user_factory(), user_factory()
    p1 = post_services.post_create(author=a, content="#Café au lait")
    p2 = post_services.post_create(author=b, content="un #CAFE\u0301 #123 a#b")
    # when the trending worker receives the events
    deliver(TREND_ROUTES)
    # then one bucket holds both authors; #123 and a#b are not tags
    start = p1.created_at.replace(minute=0, second=0, microsecond=0)
    if p2.created_at.replace(minute=0, second=0, microsecond=0) == start:
        assert buckets() == {("café", start): (2, 2, sorted([a.id, b.id]))}
    else:  # the two posts straddle an hour boundary
        assert {key[0] for key in buckets()} == {"café"}
    assert ProcessedEvent.objects.filter(task_name="trends.post_created_task").count() == 2


def test_same_event_twice_changes_nothing(user_factory):
    # given a post.created event delivered once
    a = user_factory()
    post_services.post_create(author=a, content="#once")
    last = deliver(TREND_ROUTES)
    snapshot = (buckets(), ledger_size())
    # when the same event is delivered again / then it is skipped
    deliver(TREND_ROUTES)
    assert (buckets(), ledger_size()) == snapshot
    assert ProcessedEvent.objects.filter(task_name="trends.post_created_task").count() == 1
    # and even a sync under another event id changes nothing
    post = Post.objects.get()
    assert post_trend_sync(post_id=post.id) == SyncResult(added=0, removed=0)
    assert (buckets(), ledger_size()) == snapshot
    assert last > 0


def test_delete_removes_the_contribution_once(user_factory):
    # given A and B using #z in one hour
    a, b = user_factory(), user_factory()
    pa = post_services.post_create(author=a, content="#z from a")
    post_services.post_create(author=b, content="#z from b")
    last = deliver(TREND_ROUTES)
    # when A deletes their post (event) and a moderation event follows for it
    post_services.post_delete(post=pa, user=a)
    Post.objects.filter(pk=pa.pk).update(moderation_state="removed")
    publish("post.moderated", key=a.id, data={"post_id": pa.id, "author_id": a.id, "action": "remove", "moderator_id": b.id})
    deliver(TREND_ROUTES, after_id=last)
    # then only B's use remains, removed exactly once
    only_b = {key: value for key, value in buckets().items() if key[0] == "z"}
    assert list(only_b.values()) == [(1, 1, [b.id])]
    assert ledger_size() == 1


def test_moderation_removes_and_restores(user_factory):
    # given two authors using #m in one hour
    a, b = user_factory(), user_factory()
    pa = make_post(a, ["m"], H)
    make_post(b, ["m"], H + timedelta(minutes=1))
    # when A's post is hidden / then only B counts, and the empty author row is gone
    Post.objects.filter(pk=pa.pk).update(moderation_state="hidden")
    assert post_trend_sync(post_id=pa.id) == SyncResult(added=0, removed=1)
    assert buckets() == {("m", H): (1, 1, [b.id])}
    # when B's post is removed too / then the bucket disappears
    Post.objects.filter(author=b).update(moderation_state="removed")
    assert post_trend_sync(post_id=Post.objects.get(author=b).id) == SyncResult(added=0, removed=1)
    assert buckets() == {}
    # when A's post is made visible again / then it counts again
    Post.objects.filter(pk=pa.pk).update(moderation_state="visible")
    assert post_trend_sync(post_id=pa.id) == SyncResult(added=1, removed=0)
    assert buckets() == {("m", H): (1, 1, [a.id])}


def test_only_public_posts_count_and_visibility_changes_follow(user_factory):
    # given a friends-only and a private post / then nothing counts
    a = user_factory()
    friends = make_post(a, ["secret"], H, visibility="friends")
    make_post(a, ["secret"], H, visibility="private")
    assert buckets() == {}
    # when the friends-only post is made public (post.updated) / then it counts
    Post.objects.filter(pk=friends.pk).update(visibility="public")
    assert post_trend_sync(post_id=friends.id) == SyncResult(added=1, removed=0)
    assert buckets() == {("secret", H): (1, 1, [a.id])}


def test_hard_deleted_post_is_removed(user_factory):
    a = user_factory()
    post = make_post(a, ["gone"], H)
    Post.objects.filter(pk=post.pk).delete()
    assert post_trend_sync(post_id=post.id) == SyncResult(added=0, removed=1)
    assert (buckets(), ledger_size()) == ({}, 0)


def test_rebuild_equals_incremental_state(user_factory):
    # given posts synced incrementally, including a deleted and a friends-only one
    a, b, c = user_factory(), user_factory(), user_factory()
    make_post(a, ["r", "s"], H)
    make_post(b, ["r"], H + timedelta(minutes=30))
    make_post(c, ["s"], H + timedelta(hours=3))
    gone = make_post(c, ["r"], H)
    Post.objects.filter(pk=gone.pk).update(deleted_at=H)
    post_trend_sync(post_id=gone.id)
    make_post(c, ["r"], H, visibility="friends")
    incremental = (buckets(), ledger_size())
    # when rebuilt from posts / then the same buckets and ledger
    result = trend_buckets_rebuild()
    assert (buckets(), ledger_size()) == incremental
    assert (result.contributions, result.buckets, result.author_buckets) == (4, 3, 4)
