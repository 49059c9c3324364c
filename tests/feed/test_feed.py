"""The home feed: order, visibility, pagination stability, cache-aside and invalidation.

Runs on PostgreSQL and the real Redis cache (``make test``), with the ORM graph store.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from feed import selectors
from feed.cache import feed_version
from feed.models import ContentScore
from graph.stores import get_graph_store
from posts import services as post_services
from posts.models import Like, Post
from tests.posts.factories import PostFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(user_factory):
    return user_factory(username="viewer")


def make_post(author, *, hours_ago: float, score: float | None = None, **fields) -> Post:
    post = PostFactory(author=author, **fields)
    Post.objects.filter(pk=post.pk).update(created_at=timezone.now() - timedelta(hours=hours_ago))
    if score is not None:
        ContentScore.objects.create(post=post, score=score)
    return post


def ids(response) -> list[int]:
    return [p["id"] for p in response.json()["results"]]


def test_ranked_order_is_score_times_affinity_times_freshness(viewer, user_factory, befriend, client_for):
    # Given two friends, the viewer interacting strongly with bob, and four posts,
    alice, bob = user_factory(username="alice"), user_factory(username="bob")
    befriend(viewer, alice)
    befriend(viewer, bob)
    get_graph_store().strengthen(viewer.pk, bob.pk, 20.0)
    old_popular = make_post(alice, hours_ago=30, score=900.0)
    bob_fresh = make_post(bob, hours_ago=1, score=100.0)
    alice_fresh = make_post(alice, hours_ago=1, score=100.0)
    own_unscored = make_post(viewer, hours_ago=0.5)
    # Rank values (formula of feed.selectors): 901·1·0.5^(30/48) = 584.6;
    # 101·(1+ln 21)·0.5^(1/48) = 402.5; 101·1·0.5^(1/48) = 99.5; 1·1·0.5^(0.5/48) = 0.99.
    response = client_for(viewer).get("/api/feed/")
    # then the page is in exactly that order, and nobody else's posts appear.
    assert response.status_code == 200
    assert ids(response) == [old_popular.pk, bob_fresh.pk, alice_fresh.pk, own_unscored.pk]
    assert response.json()["next_cursor"] is None
    assert response.json()["results"][0]["score"] == 900.0
    assert response.json()["results"][3]["score"] is None


def test_rank_formula_values():
    assert selectors.rank(score=None, weight=0.0, age_hours=0.0) == 1.0
    assert selectors.rank(score=3.0, weight=0.0, age_hours=48.0) == 2.0
    assert round(selectors.rank(score=1.0, weight=20.0, age_hours=0.0), 6) == round(2 * (1 + 3.044522437723423), 6)


def test_recent_order_and_visibility_rules(viewer, user_factory, befriend, block, client_for):
    friend, stranger, blocker = user_factory(username="friend"), user_factory(username="stranger"), user_factory(username="blocker")
    befriend(viewer, friend)
    visible = [
        make_post(friend, hours_ago=1, visibility="public"),
        make_post(friend, hours_ago=2, visibility="friends"),
        make_post(viewer, hours_ago=3, visibility="private"),
    ]
    make_post(friend, hours_ago=1.5, visibility="private")  # the friend's private post
    make_post(stranger, hours_ago=1, visibility="public")  # not a friend
    make_post(friend, hours_ago=1, moderation_state="hidden")
    make_post(friend, hours_ago=1, deleted_at=timezone.now())
    befriend(viewer, blocker)
    make_post(blocker, hours_ago=1)
    block(blocker, viewer)  # a block hides content both ways (the row alone, as after block_create)
    response = client_for(viewer).get("/api/feed/?order=recent")
    assert ids(response) == [p.pk for p in visible]


def test_walking_all_pages_returns_every_post_once_while_posts_and_scores_change(viewer, user_factory, befriend, client_for):
    friend = user_factory(username="friend")
    befriend(viewer, friend)
    original = [make_post(friend, hours_ago=n, score=float(n % 5)) for n in range(1, 26)]
    client = client_for(viewer)
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/feed/?limit=4" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url)
        assert response.status_code == 200, response.json()
        seen += ids(response)
        cursor = response.json()["next_cursor"]
        pages += 1
        # Between pages: a new post arrives and an old post's score jumps.
        make_post(friend, hours_ago=0)
        ContentScore.objects.filter(post=original[pages]).update(score=10_000.0)
        if cursor is None:
            break
    assert pages == 7
    assert sorted(seen) == sorted(p.pk for p in original)
    assert len(seen) == len(set(seen))


def test_ranked_walk_continues_in_recent_order_beyond_the_candidates(viewer, user_factory, befriend, client_for, monkeypatch):
    monkeypatch.setattr(selectors, "RANKED_CANDIDATES", 5)
    friend = user_factory(username="friend")
    befriend(viewer, friend)
    posts = [make_post(friend, hours_ago=n, score=float(n)) for n in range(1, 11)]
    client = client_for(viewer)
    first = client.get("/api/feed/?limit=3").json()
    second = client.get(f"/api/feed/?limit=3&cursor={first['next_cursor']}").json()
    third = client.get(f"/api/feed/?limit=3&cursor={second['next_cursor']}").json()
    fourth = client.get(f"/api/feed/?limit=3&cursor={third['next_cursor']}").json()
    # The 5 newest posts ranked (score n × freshness; n=5 ranks first), then the 5 older by time.
    ranked = sorted(posts[:5], key=lambda p: -selectors.rank(score=posts.index(p) + 1.0, weight=0, age_hours=posts.index(p) + 1))
    walked = [p["id"] for page in (first, second, third, fourth) for p in page["results"]]
    assert walked == [p.pk for p in ranked] + [p.pk for p in posts[5:]]
    assert fourth["next_cursor"] is None


def test_cache_hit_and_miss_return_the_same_page(viewer, user_factory, befriend):
    friend = user_factory(username="friend")
    befriend(viewer, friend)
    for n in range(3):
        make_post(friend, hours_ago=n + 1, score=1.0)
    miss, hit = selectors.cached_feed_page(viewer), selectors.cached_feed_page(viewer)
    assert (miss[1], hit[1]) == (False, True)
    assert miss[0] == hit[0]


def test_stale_cached_page_never_shows_a_deleted_or_moderated_post(viewer, user_factory, befriend, client_for):
    friend = user_factory(username="friend")
    befriend(viewer, friend)
    keep, delete, hide = (make_post(friend, hours_ago=n) for n in (1, 2, 3))
    client = client_for(viewer)
    assert ids(client.get("/api/feed/?order=recent")) == [keep.pk, delete.pk, hide.pk]
    # Rows change without any event (so the cached page is stale):
    Post.objects.filter(pk=delete.pk).update(deleted_at=timezone.now())
    Post.objects.filter(pk=hide.pk).update(moderation_state="removed")
    assert selectors.cached_feed_page(viewer, order="recent")[1] is True
    assert ids(client.get("/api/feed/?order=recent")) == [keep.pk]


def test_a_cached_page_reads_counters_likes_score_and_author_fresh_in_one_query(viewer, user_factory, befriend, client_for):
    # Given a friend's two posts, the page read once (rendered and cached),
    friend = user_factory(username="friend", display_name="Friend")
    befriend(viewer, friend)
    first, second = make_post(friend, hours_ago=1, score=2.0), make_post(friend, hours_ago=2)
    client = client_for(viewer)
    cold = client.get("/api/feed/?order=recent").json()["results"]
    assert [(p["id"], p["like_count"], p["liked_by_me"], p["score"]) for p in cold] == [
        (first.pk, 0, False, 2.0), (second.pk, 0, False, None)]
    # when rows change without any event (the feed version stays, so the page is a hit),
    Like.objects.create(post=second, user=viewer)
    Post.objects.filter(pk=second.pk).update(like_count=1)
    Post.objects.filter(pk=first.pk).update(comment_count=7)
    ContentScore.objects.filter(post=first).update(score=5.5)
    type(friend).objects.filter(pk=friend.pk).update(display_name="Renamed", bio="new bio")
    with CaptureQueriesContext(connection) as captured:
        warm = client.get("/api/feed/?order=recent").json()["results"]
    # then the hit shows every change, and costs the user's row and one query for the page.
    assert selectors.cached_feed_page(viewer, order="recent")[1] is True
    assert len(captured) == 2
    assert [(p["id"], p["like_count"], p["comment_count"], p["liked_by_me"], p["score"]) for p in warm] == [
        (first.pk, 0, 7, False, 5.5), (second.pk, 1, 0, True, None)]
    assert {(p["author"]["display_name"], p["author"]["bio"]) for p in warm} == {("Renamed", "new bio")}
    assert [p["content"] for p in warm] == [p["content"] for p in cold]


def test_a_cached_page_costs_the_version_read_and_one_round_trip_for_page_and_objects(
    viewer, user_factory, befriend, client_for, monkeypatch
):
    # given a page read once (ids and rendered objects cached)
    friend = user_factory(username="friend")
    befriend(viewer, friend)
    for n in range(3):
        make_post(friend, hours_ago=n + 1, score=1.0)
    client = client_for(viewer)
    first = client.get("/api/feed/")
    # when it is read again
    seen = _redis_round_trips(monkeypatch)
    again = client.get("/api/feed/")
    monkeypatch.undo()
    # then the viewer's version is read once and the page with its objects in one MGET
    assert seen == ["GET", "MGET"]
    assert again.json() == first.json()
    assert len(first.json()["results"]) == 3


def test_a_cached_page_renders_again_a_post_edited_or_mentioning_an_inactive_account(
        viewer, user_factory, befriend, client_for):
    # Given a friend's posts, one of them mentioning an account, the page cached,
    friend, mentioned = user_factory(username="friend"), user_factory(username="mentioned")
    befriend(viewer, friend)
    edited = post_services.post_create(author=friend, content="first text")
    mentioning = post_services.post_create(author=friend, content="hello @mentioned")
    client = client_for(viewer)
    cold = client.get("/api/feed/?order=recent").json()["results"]
    assert [(p["content"], [m["username"] for m in p["mentions"]]) for p in cold] == [
        ("hello @mentioned", ["mentioned"]), ("first text", [])]
    # when one is edited and the mentioned account is deactivated, without any event,
    Post.objects.filter(pk=edited.pk).update(content="second text", visibility="public", edited_at=timezone.now())
    type(mentioned).objects.filter(pk=mentioned.pk).update(is_active=False)
    warm = client.get("/api/feed/?order=recent").json()["results"]
    # then the hit shows the new text and no longer shows the inactive account.
    assert selectors.cached_feed_page(viewer, order="recent")[1] is True
    assert [(p["id"], p["content"], p["visibility"], [m["username"] for m in p["mentions"]]) for p in warm] == [
        (mentioning.pk, "hello @mentioned", "public", []), (edited.pk, "second text", "public", [])]
    assert warm[1]["edited_at"] is not None


def test_a_cached_page_drops_a_post_made_private_or_of_an_author_who_blocked_the_viewer(
        viewer, user_factory, befriend, client_for):
    friend, other = user_factory(username="friend"), user_factory(username="other")
    befriend(viewer, friend)
    befriend(viewer, other)
    private, blocked, kept = make_post(friend, hours_ago=1), make_post(other, hours_ago=2), make_post(friend, hours_ago=3)
    client = client_for(viewer)
    assert ids(client.get("/api/feed/?order=recent")) == [private.pk, blocked.pk, kept.pk]
    Post.objects.filter(pk=private.pk).update(visibility="private")
    from graph.models import Block

    Block.objects.create(blocker=other, blocked=viewer)
    assert ids(client.get("/api/feed/?order=recent")) == [kept.pk]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["new_post", "edit", "delete", "score", "unfriend", "block", "moderation", "accept"])
def test_each_event_invalidates_the_affected_feeds(change, user_factory, befriend):
    from graph import services as graph_services

    viewer, friend, other = user_factory(username="viewer"), user_factory(username="friend"), user_factory(username="other")
    befriend(viewer, friend)
    post = post_services.post_create(author=friend, content="hello")
    before = feed_version(viewer.pk)
    other_before = feed_version(other.pk)
    if change == "new_post":
        post_services.post_create(author=friend, content="again")
    elif change == "edit":
        post_services.post_update(post=post, user=friend, content="edited")
    elif change == "delete":
        post_services.post_delete(post=post, user=friend)
    elif change == "score":
        from bellamy.events.services import publish

        publish("content_score.updated", key=friend.pk, data={"post_id": post.pk, "author_id": friend.pk, "score": 9.0, "previous_score": 1.0})
    elif change == "unfriend":
        graph_services.friendship_remove(user=viewer, friend_id=friend.pk)
    elif change == "block":
        graph_services.block_create(blocker=friend, blocked_id=viewer.pk)
    elif change == "moderation":
        from bellamy.events.services import publish

        publish("post.moderated", key=friend.pk, data={"post_id": post.pk, "author_id": friend.pk, "action": "hide", "moderator_id": other.pk})
    elif change == "accept":
        request = graph_services.friend_request_send(from_user=other, to_user_id=viewer.pk)
        other_before = feed_version(other.pk)
        graph_services.friend_request_accept(user=viewer, request_id=request.pk)
    assert feed_version(viewer.pk) != before
    assert (feed_version(other.pk) != other_before) == (change == "accept")


def test_uncached_page_costs_the_same_queries_for_5_or_50_friends(viewer, user_factory, befriend, client_for):
    def queries_for_first_page() -> int:
        client = client_for(viewer)
        from django.core.cache import cache

        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/feed/?limit=20").status_code == 200
        return len(captured)

    def add_friends(count):
        for _ in range(count):
            friend = user_factory()
            befriend(viewer, friend)
            make_post(friend, hours_ago=1, score=1.0)

    add_friends(5)
    small = queries_for_first_page()
    add_friends(45)
    assert queries_for_first_page() == small


@pytest.mark.parametrize(
    ("query", "field"),
    [("order=best", "order"), ("limit=0", "limit"), ("limit=1000000", "limit"), ("limit=abc", "limit"),
     ("cursor=%%%", "cursor"), ("cursor=eyJtIjoicyJ9", "cursor")],
)
def test_bad_queries_are_400(viewer, client_for, query, field):
    response = client_for(viewer).get(f"/api/feed/?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_expired_ranked_cursor_is_a_400_with_its_code(viewer, client_for):
    cursor = selectors._encode({"m": "s", "s": "gone", "o": 20})
    response = client_for(viewer).get(f"/api/feed/?cursor={cursor}")
    assert (response.status_code, response.json()) == (
        400, {"cursor": ["This feed cursor has expired; load the first page again."]},
    )


def test_anonymous_feed_is_401(api_client):
    assert api_client.get("/api/feed/").status_code == 401


# --- invalidation in batches ------------------------------------------------------------------
def _redis_round_trips(monkeypatch) -> list[str]:
    """Count the Redis round trips made from now on (pass-through: commands and pipelines)."""
    import redis

    seen: list[str] = []
    command, pipeline = redis.Redis.execute_command, redis.client.Pipeline.execute

    def counted_command(self, *args, **kwargs):
        seen.append(str(args[0]))
        return command(self, *args, **kwargs)

    def counted_pipeline(self, *args, **kwargs):
        seen.append("pipeline")
        return pipeline(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", counted_command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", counted_pipeline)
    return seen


def test_a_batch_bumps_every_affected_feed_in_one_round_trip(user_factory, befriend, monkeypatch):
    from bellamy.events.envelope import Envelope
    from feed.invalidation import feed_invalidate_for_events

    # given 52 authors with 3 friends each (one friend shared by all), and a stranger
    shared = user_factory(username="shared")
    authors = [user_factory(username=f"author{n}") for n in range(52)]
    friends = {}
    for n, author in enumerate(authors):
        friends[author.pk] = [shared, *(user_factory(username=f"f{n}_{m}") for m in range(2))]
        for friend in friends[author.pk]:
            befriend(author, friend)
    stranger = user_factory(username="stranger")

    def created(author):
        return Envelope(type="post.created", key=str(author.pk), data={"post_id": 1, "author_id": author.pk})

    def run(batch) -> tuple[int, int, list[int]]:
        seen = _redis_round_trips(monkeypatch)
        with CaptureQueriesContext(connection) as captured:
            bumped = feed_invalidate_for_events(events=batch)
        monkeypatch.undo()
        return len(captured), len(seen), bumped

    # the presence read is a Lua script: its first call on a Redis that has not seen it (a fresh
    # or restarted server) costs two more round trips (NOSCRIPT, SCRIPT LOAD); counted warm
    warm_a, warm_b = user_factory(username="warm_a"), user_factory(username="warm_b")
    feed_invalidate_for_events(
        events=[Envelope(type="user.blocked", key="x", data={"blocker_id": warm_a.pk, "blocked_id": warm_b.pk})]
    )
    before = {u: feed_version(u) for u in (shared.pk, stranger.pk, authors[0].pk, authors[-1].pk)}
    small = run([created(a) for a in authors[:2]])
    large = run([created(a) for a in authors[2:]]
                + [Envelope(type="user.blocked", key="x", data={"blocker_id": stranger.pk, "blocked_id": shared.pk})])
    # then: two queries (the friends of every author; the erased accounts among the viewers, so
    # a queued event never writes an erased user's key back) for 2 or 50 events; new posts
    # alone cost one Redis round trip (the versions' set_many: a new post pushes no
    # feed.updated, README "Real time"), and the block adds one pipeline for the push marks
    # and one presence read
    assert (small[0], small[1]) == (2, 1)
    assert (large[0], large[1]) == (2, 3)
    assert small[2] == sorted({a.pk for a in authors[:2]} | {f.pk for a in authors[:2] for f in friends[a.pk]})
    assert stranger.pk in large[2] and shared.pk in large[2]
    assert all(feed_version(u) != version for u, version in before.items())


def test_a_partly_handled_batch_invalidates_only_for_the_new_events(user_factory, befriend):
    from bellamy.events.envelope import Envelope
    from bellamy.events.models import ProcessedEvent
    from feed.tasks import invalidate_feeds_task

    # given two authors with a friend each, and the first author's post.created already handled
    first, second = user_factory(username="first"), user_factory(username="second")
    first_friend, second_friend = user_factory(username="ff"), user_factory(username="sf")
    befriend(first, first_friend)
    befriend(second, second_friend)

    def created(author) -> dict:
        return Envelope(type="post.created", key=str(author.pk),
                        data={"post_id": 1, "author_id": author.pk}).to_dict()

    handled, new = created(first), created(second)
    assert invalidate_feeds_task([handled]) == sorted([first.pk, first_friend.pk])
    versions = {u.pk: feed_version(u.pk) for u in (first, first_friend, second, second_friend)}

    # when the batch is delivered again with a new event after the handled one
    bumped = invalidate_feeds_task([handled, new])

    # then only the new event's author and friends are invalidated, and each event is recorded once
    assert bumped == sorted([second.pk, second_friend.pk])
    assert feed_version(first.pk) == versions[first.pk]
    assert feed_version(first_friend.pk) == versions[first_friend.pk]
    assert feed_version(second.pk) != versions[second.pk]
    assert feed_version(second_friend.pk) != versions[second_friend.pk]
    assert ProcessedEvent.objects.filter(task_name="feed.invalidate_feeds_task").count() == 2
    # and a batch of events all handled before changes nothing
    after = {u.pk: feed_version(u.pk) for u in (first, first_friend, second, second_friend)}
    assert invalidate_feeds_task([handled, new]) is None
    assert {u: feed_version(u) for u in after} == after
