"""The notification worker's task on both store backends: who is notified for each event,
the 1,000-friend fan-out, batches (bulk writes, partly handled, statement counts), idempotency,
never-notify rules, deletions, pushes and the toggle flood (issue 22 item 13)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bellamy.events.dispatch import dispatch
from bellamy.events.models import ProcessedEvent
from bellamy.realtime.consumers import user_group
from bellamy.realtime.presence import get_presence
from graph.models import Friendship
from notifications import tasks
from notifications.stores import get_notification_store
from notifications.stores.base import group_key_for
from posts.models import Post
from tests.notifications.conftest import T0, envelope
from tests.posts.factories import PostFactory

M = timedelta(minutes=1)


def post_created(post, *, mention_ids=(), at=T0):
    return envelope(
        "post.created", key=post.author_id, actor_id=post.author_id, at=at,
        data={"post_id": post.pk, "author_id": post.author_id, "visibility": post.visibility, "hashtags": [],
              "mention_ids": list(mention_ids), "created_at": at.isoformat().replace("+00:00", "Z")},
    )


def liked(post, user, at=T0):
    return envelope("post.liked", key=post.author_id, actor_id=user.pk, at=at,
                    data={"post_id": post.pk, "author_id": post.author_id, "user_id": user.pk})


def commented(post, user, comment_id, mention_ids=(), at=T0):
    return envelope("comment.created", key=post.author_id, actor_id=user.pk, at=at,
                    data={"comment_id": comment_id, "post_id": post.pk, "author_id": post.author_id,
                          "user_id": user.pk, "mention_ids": list(mention_ids)})


def run(*envs):
    """Run the notification task on a batch as the worker would (through ``batch_task``'s
    records). Returns its ``{"stored", "grouped", "deleted", "to_push"}``, or ``None`` when every
    event was handled before."""
    return tasks.notify_task.apply(args=[[env.to_dict() for env in envs]]).get()


def counts(stored=0, grouped=0, deleted=0, to_push=None):
    return {"stored": stored, "grouped": grouped, "deleted": deleted,
            "to_push": stored + grouped if to_push is None else to_push}


def everything():
    """Every stored notification as ``(recipient, type, actors, actor_count, post_id, comment_id)``."""
    store = get_notification_store()
    return sorted(
        (r.recipient_id, r.type, r.actors, r.actor_count, r.post_id, r.comment_id)
        for batch in store.export_batches() for r in batch
    )


# --- fan-out ----------------------------------------------------------------------------------
def test_post_by_a_user_with_1000_friends_stores_one_notification_per_friend(
    backend, user_factory, many_users, django_assert_max_num_queries
):
    # given an author with 1,000 friends (bulk-created) and one non-friend
    author = user_factory(username="author")
    friends = many_users(1000)
    user_factory(username="stranger")
    Friendship.objects.bulk_create(
        [Friendship(user_low_id=min(author.pk, f), user_high_id=max(author.pk, f)) for f in friends]
    )
    post = PostFactory(author=author, visibility="public")
    event = post_created(post)
    # when the worker handles post.created: bulk writes, not one per friend
    with django_assert_max_num_queries(12):
        result = run(event)
    # then exactly one friend_posted per friend is stored, nothing for the stranger or author
    store = get_notification_store()
    assert result == counts(stored=1000)
    assert store.count() == 1000
    rows = everything()
    assert sorted(r[0] for r in rows) == sorted(friends)
    assert {r[1:] for r in rows} == {("friend_posted", (author.pk,), 1, post.pk, None)}
    # when the same event is replayed through the task (run-once record) and below it (store keys)
    assert run(event) is None
    assert tasks.notify_task.handler([event])["stored"] == 0
    # then nothing more is stored
    assert store.count() == 1000
    assert ProcessedEvent.objects.filter(event_id=event.id).count() == 1


# --- never notify -----------------------------------------------------------------------------
def test_private_post_notifies_nobody(backend, user_factory, befriend):
    author, friend = user_factory(username="author"), user_factory(username="friend")
    befriend(author, friend)
    post = PostFactory(author=author, visibility="private")
    assert run(post_created(post, mention_ids=[friend.pk])) == counts()
    assert everything() == []


def test_friends_post_notifies_friends_and_mentioned_friends_but_not_a_mentioned_stranger(
    backend, user_factory, befriend, block
):
    # given friends f1, f2 (mentioned), a blocked friend-turned-blocker f3, and a stranger s
    author = user_factory(username="author")
    f1, f2, f3, s = (user_factory(username=n) for n in ("f1", "f2", "f3", "s"))
    for f in (f1, f2, f3):
        befriend(author, f)
    block(f3, author)
    post = PostFactory(author=author, visibility="friends")
    # when the post mentions f2, the stranger, f3 and the author themself
    result = run(post_created(post, mention_ids=[f2.pk, s.pk, f3.pk, author.pk]))
    # then f2 is mentioned (only once), f1 is told a friend posted, nobody else
    assert result == counts(stored=2)
    assert everything() == sorted([
        (f1.pk, "friend_posted", (author.pk,), 1, post.pk, None),
        (f2.pk, "mentioned", (author.pk,), 1, post.pk, None),
    ])


def test_public_post_mentions_a_stranger_but_not_a_blocked_or_inactive_one(backend, user_factory, block):
    author = user_factory(username="author")
    s1, s2, s3 = user_factory(username="s1"), user_factory(username="s2"), user_factory(username="s3")
    block(author, s2)
    s3.is_active = False
    s3.save(update_fields=["is_active"])
    post = PostFactory(author=author, visibility="public")
    assert run(post_created(post, mention_ids=[s1.pk, s2.pk, s3.pk, "x", s1.pk])) == counts(stored=1)
    assert everything() == [(s1.pk, "mentioned", (author.pk,), 1, post.pk, None)]


def test_hidden_post_notifies_nobody(backend, user_factory, befriend):
    author, friend = user_factory(username="author"), user_factory(username="friend")
    befriend(author, friend)
    post = PostFactory(author=author, moderation_state=Post.ModerationState.HIDDEN)
    assert run(post_created(post, mention_ids=[friend.pk])) == counts()
    assert everything() == []


def test_likes_group_and_skip_the_author_and_blocked_likers(backend, user_factory, block):
    # given a post and likers a, b (same hour), the author, and a blocked liker x
    author = user_factory(username="author")
    a, b, x = (user_factory(username=n) for n in ("a", "b", "x"))
    block(author, x)
    post = PostFactory(author=author)
    # when they all like it, one event per batch
    run(liked(post, a, T0 + M))
    run(liked(post, author, T0 + 2 * M))
    run(liked(post, x, T0 + 3 * M))
    second = liked(post, b, T0 + 4 * M)
    assert run(second) == counts(grouped=1)
    # then the author has ONE grouped notification with a and b, most recent first
    assert everything() == [(author.pk, "post_liked", (b.pk, a.pk), 2, post.pk, None)]
    [record] = get_notification_store().list_for(author.pk)[0]
    assert record.group_key == group_key_for("post_liked", post.pk, T0)
    assert record.updated_at == T0 + 4 * M
    # and a replay below the run-once record changes nothing
    assert tasks.notify_task.handler([second])["grouped"] == 0
    assert get_notification_store().list_for(author.pk)[0] == [record]


def test_likes_of_one_batch_group_like_one_at_a_time(backend, user_factory):
    # given the same four likes as one batch (the author's own like among them)
    author = user_factory(username="author")
    a, b = (user_factory(username=n) for n in ("a", "b"))
    post = PostFactory(author=author)
    result = run(liked(post, a, T0 + M), liked(post, author, T0 + 2 * M), liked(post, b, T0 + 4 * M))
    # then one group, written once
    assert result == counts(grouped=1)
    assert everything() == [(author.pk, "post_liked", (b.pk, a.pk), 2, post.pk, None)]
    [record] = get_notification_store().list_for(author.pk)[0]
    assert record.updated_at == T0 + 4 * M
    assert len(record.event_ids) == 2


def test_comments_group_for_the_author_and_mention_others(backend, user_factory, befriend):
    author = user_factory(username="author")
    c1, c2, m = (user_factory(username=n) for n in ("c1", "c2", "m"))
    post = PostFactory(author=author, visibility="public")
    # when c1 comments mentioning m, the author and c1; then c2 comments
    assert run(commented(post, c1, 501, [m.pk, author.pk, c1.pk], T0 + M)) == counts(stored=1, grouped=1)
    assert run(commented(post, c2, 502, [], T0 + 2 * M)) == counts(grouped=1)
    # then the author has one group (latest comment), m one mention
    assert everything() == sorted([
        (author.pk, "post_commented", (c2.pk, c1.pk), 2, post.pk, 502),
        (m.pk, "mentioned", (c1.pk,), 1, post.pk, 501),
    ])


def test_comment_on_a_friends_post_does_not_notify_a_mentioned_non_friend(backend, user_factory, befriend):
    author, friend, outsider = (user_factory(username=n) for n in ("author", "friend", "outsider"))
    befriend(author, friend)
    post = PostFactory(author=author, visibility="friends")
    assert run(commented(post, friend, 9, [outsider.pk])) == counts(grouped=1)
    assert everything() == [(author.pk, "post_commented", (friend.pk,), 1, post.pk, 9)]


# --- friendships ------------------------------------------------------------------------------
def test_friend_request_and_acceptance(backend, user_factory, block):
    a, b, c = (user_factory(username=n) for n in ("a", "b", "c"))
    data = {"request_id": 1, "from_user_id": a.pk, "to_user_id": b.pk}
    requested = envelope("friendship.requested", key=f"{a.pk}:{b.pk}", data=data, actor_id=a.pk)
    accepted = envelope("friendship.accepted", key=f"{a.pk}:{b.pk}", data=data, actor_id=b.pk)
    assert run(requested) == counts(stored=1)
    assert run(accepted) == counts(stored=1)
    assert run(requested) is None
    # a request from a blocked user notifies nobody
    block(c, a)
    blocked = envelope("friendship.requested", key="x", actor_id=a.pk,
                       data={"request_id": 2, "from_user_id": a.pk, "to_user_id": c.pk})
    assert run(blocked) == counts()
    assert everything() == sorted([
        (b.pk, "friend_request", (a.pk,), 1, None, None),
        (a.pk, "friend_accepted", (b.pk,), 1, None, None),
    ])


# --- deletions --------------------------------------------------------------------------------
def deleted(post):
    return envelope("post.deleted", key=post.author_id, actor_id=post.author_id,
                    data={"post_id": post.pk, "author_id": post.author_id})


def moderated(post):
    return envelope("post.moderated", key=post.author_id, actor_id=None,
                    data={"post_id": post.pk, "author_id": post.author_id, "action": "hide", "moderator_id": None})


def test_post_deleted_and_moderated_remove_the_posts_notifications(backend, user_factory, befriend):
    author, friend = user_factory(username="author"), user_factory(username="friend")
    befriend(author, friend)
    p1, p2, p3 = PostFactory(author=author), PostFactory(author=author), PostFactory(author=author)
    run(*(post_created(p) for p in (p1, p2, p3)))
    run(liked(p1, friend))
    assert len(everything()) == 4
    # when p1 is deleted, p2 is hidden by a moderator, while p3's moderation event finds it
    # visible — one batch
    Post.objects.filter(pk=p2.pk).update(moderation_state=Post.ModerationState.HIDDEN)
    assert run(deleted(p1), moderated(p2), moderated(p3)) == counts(deleted=3)
    # then only p3's notification is left
    assert everything() == [(friend.pk, "friend_posted", (author.pk,), 1, p3.pk, None)]


# --- batches ----------------------------------------------------------------------------------
def mixed_events(authors, fans, posts):
    """Posts by several authors, likes and comments with mentions, a friend request."""
    events = [post_created(post, mention_ids=[fans[0].pk]) for post in posts]
    for n, post in enumerate(posts):
        events.append(liked(post, fans[n % len(fans)], T0 + M * n))
        events.append(liked(post, fans[(n + 1) % len(fans)], T0 + M * n + M))
        events.append(commented(post, fans[n % len(fans)], 900 + n, [fans[-1].pk], T0 + M * n))
    events.append(envelope("friendship.requested", key="r", actor_id=fans[0].pk,
                           data={"request_id": 1, "from_user_id": fans[0].pk, "to_user_id": authors[0].pk}))
    return events


def test_a_batch_gives_what_one_event_at_a_time_gives(backend, user_factory, befriend, settings):
    # given three authors with friends, and a mixed stream of 22 events
    authors = [user_factory(username=f"author{n}") for n in range(3)]
    fans = [user_factory(username=f"fan{n}") for n in range(4)]
    for author in authors:
        for fan in fans[:3]:
            befriend(author, fan)
    posts = [PostFactory(author=authors[n % 3], visibility="friends") for n in range(6)]
    events = mixed_events(authors, fans, posts)
    # when handled one at a time
    for event in events:
        run(event)
    one_by_one = everything()
    # and again (fresh store and records) as batches of 8 overlapping by 3 (partly handled)
    for batch in list(get_notification_store().export_batches()):
        for record in batch:
            get_notification_store().delete_user(record.recipient_id)
    ProcessedEvent.objects.all().delete()
    assert everything() == []
    for start in range(0, len(events), 5):
        run(*events[max(0, start - 3):start + 5])
    # then the same notifications
    assert everything() == one_by_one
    # per post: fan0 mentioned + fan1, fan2 told a friend posted; one like group; one comment
    # group (fan3, mentioned in the comments, is no friend: cannot see them); and the request
    assert len(one_by_one) == 6 * 3 + 6 + 6 + 1


def test_statements_per_batch_do_not_grow_with_its_size(backend, user_factory, many_users):
    # given 50 authors with 20 friends each, each with a post
    authors = [user_factory(username=f"author{n}") for n in range(50)]
    friends = many_users(20)
    Friendship.objects.bulk_create(
        [Friendship(user_low_id=min(a.pk, f), user_high_id=max(a.pk, f)) for a in authors for f in friends]
    )
    posts = [PostFactory(author=author, visibility="public") for author in authors]
    store = get_notification_store()
    getattr(store, "ensure_indexes", lambda: None)()  # MongoDB: indexes once per store, not per batch

    def statements(batch) -> tuple[int, int]:
        """(PostgreSQL statements, MongoDB commands) of one task run on ``batch``."""
        calls = count_store_calls(store)
        with CaptureQueriesContext(connection) as captured:
            result = run(*batch)
        return len(captured), calls(), result

    small = statements([post_created(p, mention_ids=[friends[0]]) for p in posts[:2]]
                       + [liked(p, user_factory(username=f"l{p.pk}")) for p in posts[:2]])
    large = statements([post_created(p, mention_ids=[friends[0]]) for p in posts[2:]]
                       + [liked(p, user_factory(username=f"l{p.pk}")) for p in posts[2:]])
    # then: 2 posts and 48 posts cost the same statements and store round trips (MongoDB: one
    # insert_many, one find and one bulk_write of the groups)
    assert small[:2] == large[:2]
    assert small[1] == (3 if backend == "mongo" else 0)
    assert small[2] == counts(stored=2 * 20, grouped=2)
    assert large[2] == counts(stored=48 * 20, grouped=48)


def count_store_calls(store):
    """Count the MongoDB collection calls the store makes from now on (a pass-through proxy;
    nothing to count on the ORM store). Returns ``calls() -> int``."""
    if not hasattr(store, "collection"):
        return lambda: 0
    seen = []
    real = store.collection

    class Counting:
        def __getattr__(self, name):
            attribute = getattr(real, name)
            if callable(attribute):
                def call(*args, **kwargs):
                    seen.append(name)
                    return attribute(*args, **kwargs)
                return call
            return attribute

    store.collection = Counting()

    def calls() -> int:
        store.collection = real
        return len(seen)

    return calls


# --- routing and pushes -----------------------------------------------------------------------
def test_dispatch_routes_post_liked_to_the_notification_task(backend, user_factory, monkeypatch):
    from bellamy.events import routes

    monkeypatch.setattr(routes, "ROUTES", {k: v for k, v in routes.merge(routes.NOTIFICATION_ROUTES).items()})
    author, fan = user_factory(username="author"), user_factory(username="fan")
    post = PostFactory(author=author)
    assert dispatch(liked(post, fan)) == 1
    assert everything() == [(author.pk, "post_liked", (fan.pk,), 1, post.pk, None)]
    notify = routes.Route("notifications.notify_task", "notifications")
    assert set(routes.NOTIFICATION_ROUTES.values()) == {(notify,)}


@pytest.fixture
def online(settings):
    """``online(user)`` marks ``user`` present and subscribes a channel to their group; returns
    a function reading the next message pushed to it."""
    layer = get_channel_layer()
    presence = get_presence()
    joined = []

    def make(user):
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(user_group(user.pk), channel)
        presence.touch(user.pk, channel)
        joined.append((user, channel))
        async def receive():
            return await asyncio.wait_for(layer.receive(channel), timeout=3)

        return async_to_sync(receive)

    yield make
    for user, channel in joined:
        presence.remove(user.pk, channel)
        async_to_sync(layer.group_discard)(user_group(user.pk), channel)


def test_new_notifications_are_pushed_after_commit(
    backend, user_factory, befriend, online, django_capture_on_commit_callbacks
):
    # given a friend with an open socket and one without
    author = user_factory(username="author", display_name="Author", bio="hi")
    connected, offline = user_factory(username="connected"), user_factory(username="offline")
    befriend(author, connected)
    befriend(author, offline)
    receive = online(connected)
    post = PostFactory(author=author)
    # when the post is fanned out and the transaction commits
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run(post_created(post))
    # then the connected friend receives the notification object
    assert len(callbacks) == 1
    [record] = get_notification_store().list_for(connected.pk)[0]
    message = receive()
    assert message == {
        "type": "push.message",
        "message": {
            "type": "notification.created",
            "data": {
                "id": record.id,
                "type": "friend_posted",
                "actors": [{"id": author.pk, "username": "author", "display_name": "Author", "bio": "hi",
                            "date_joined": author.date_joined.isoformat().replace("+00:00", "Z")}],
                "actor_count": 1,
                "post_id": post.pk,
                "comment_id": None,
                "created_at": T0.isoformat().replace("+00:00", "Z"),
                "read": False,
            },
        },
        "seq": 1,
    }


def test_post_created_pushes_nothing_from_the_default_queue():
    # One frame per new post and friend: the notification above (README "Real time").
    from bellamy.celery import app
    from bellamy.events import routes

    assert [route.task for route in routes.DEFAULT_ROUTES["post.created"]] == ["feed.invalidate_feeds_task"]
    assert "notifications.push_post_created_task" not in app.tasks
    assert "feed.push_post_created_task" not in app.tasks
