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
from trends.models import HashtagAuthorBucket, HashtagBucket, TrendContribution
from trends.services import SyncResult, post_trend_sync, trend_buckets_rebuild

pytestmark = pytest.mark.django_db

H = datetime(2024, 5, 10, 9, 0, tzinfo=UTC)


def test_trend_routes_name_registered_tasks_on_the_trends_queue():
    import trends.tasks  # noqa: F401
    from bellamy.celery import app

    sync = (Route("trends.sync_posts_task", "trends"),)
    assert TREND_ROUTES == {
        event_type: sync for event_type in ("post.created", "post.updated", "post.deleted", "post.moderated")
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
    assert ProcessedEvent.objects.filter(task_name="trends.sync_posts_task").count() == 2


def test_same_event_twice_changes_nothing(user_factory):
    # given a post.created event delivered once
    a = user_factory()
    post_services.post_create(author=a, content="#once")
    last = deliver(TREND_ROUTES)
    snapshot = (buckets(), ledger_size())
    # when the same event is delivered again / then it is skipped
    deliver(TREND_ROUTES)
    assert (buckets(), ledger_size()) == snapshot
    assert ProcessedEvent.objects.filter(task_name="trends.sync_posts_task").count() == 1
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


# --- batches ----------------------------------------------------------------------------------
def _created(post) -> dict:
    from bellamy.events.envelope import Envelope

    return Envelope(type="post.created", key=str(post.author_id),
                    data={"post_id": post.pk, "author_id": post.author_id}).to_dict()


def test_a_batch_gives_the_buckets_of_one_post_at_a_time(user_factory):
    # given posts of three authors in two hours, some sharing tags, one friends-only
    from trends.tasks import sync_posts_task

    a, b, c = user_factory(), user_factory(), user_factory()
    specs = [(a, ["x", "y"], 5), (b, ["x"], 20), (a, ["x"], 50), (c, ["y", "z"], 70), (b, ["z"], 80)]
    posts = [make_post(author, tags, H + timedelta(minutes=m), sync=False) for author, tags, m in specs]
    hidden = make_post(c, ["x"], H + timedelta(minutes=30), visibility="friends", sync=False)
    for post in [*posts, hidden]:
        post_trend_sync(post_id=post.id)
    one_by_one = (buckets(), ledger_size())
    # when the same posts are synced again from scratch as one batch, one repeated
    TrendContribution.objects.all().delete()
    HashtagAuthorBucket.objects.all().delete()
    HashtagBucket.objects.all().delete()
    assert sync_posts_task([_created(p) for p in [*posts, hidden, posts[0]]]) == {"added": 7, "removed": 0}
    # then the same buckets, with exact distinct authors
    assert (buckets(), ledger_size()) == one_by_one
    assert buckets()[("x", H)] == (3, 2, sorted([a.id, b.id]))


def test_sync_statements_do_not_grow_with_the_batch(user_factory):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from trends.tasks import sync_posts_task

    authors = [user_factory() for _ in range(5)]
    posts = [make_post(authors[n % 5], [f"t{n % 7}", "shared"], H + timedelta(minutes=n), sync=False)
             for n in range(52)]

    def statements(batch) -> int:
        with CaptureQueriesContext(connection) as captured:
            sync_posts_task([_created(p) for p in batch])
        return len(captured)

    # a batch of 2 and a batch of 50 cost the same statements (one upsert of every bucket)
    assert statements(posts[:2]) == statements(posts[2:])
    assert buckets()[("shared", H)] == (52, 5, sorted(a.id for a in authors))


def test_a_partly_handled_batch_syncs_only_the_new_events(user_factory):
    from trends.tasks import sync_posts_task

    # given A's post handled already, then a batch redelivering it before B's new post
    a, b = user_factory(), user_factory()
    first = make_post(a, ["x", "y"], H + timedelta(minutes=5), sync=False)
    second = make_post(b, ["x", "z"], H + timedelta(minutes=10), sync=False)
    handled = _created(first)
    assert sync_posts_task([handled]) == {"added": 2, "removed": 0}

    # when the batch arrives
    new = _created(second)
    result = sync_posts_task([handled, new])

    # then only B's post is synced, each event recorded once, and the buckets count both posts once
    assert result == {"added": 2, "removed": 0}
    assert ProcessedEvent.objects.filter(task_name="trends.sync_posts_task").count() == 2
    assert buckets() == {
        ("x", H): (2, 2, sorted([a.id, b.id])),
        ("y", H): (1, 1, [a.id]),
        ("z", H): (1, 1, [b.id]),
    }
    assert ledger_size() == 4
    # and the same batch once more changes nothing
    assert sync_posts_task([handled, new]) is None
    assert ledger_size() == 4
