"""Issue 22 item 13: toggling a like must not flood the author's socket.

Through the real path of the embedded default: ``posts.services`` publish ``post.liked`` /
``post.unliked`` in the outbox, the commit relays them to the in-process bus, and every routed
worker task runs (scoring, graph, notifications, feed invalidation); the sockets are channels of
the in-memory channel layer with presence, as the consumer registers them.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache

from bellamy.realtime.consumers import user_group
from bellamy.realtime.presence import get_presence
from feed import cache as feed_cache
from feed.services import content_scores_refresh
from notifications.stores import get_notification_store
from posts import services as post_services
from tests.posts.factories import PostFactory


@pytest.fixture
def sockets():
    """``open(user)`` registers a socket of ``user``; ``frames(user)`` drains the frames pushed
    to it so far as a list of messages."""
    layer = get_channel_layer()
    presence = get_presence()
    channels = {}

    def open_socket(user):
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(user_group(user.pk), channel)
        presence.touch(user.pk, channel)
        channels[user.pk] = channel

    buffers: dict[int, list] = {}

    async def drain(user_id, channel):
        frames = []
        while True:
            try:
                frames.append((await asyncio.wait_for(layer.receive(channel), timeout=0.3))["message"])
            except asyncio.TimeoutError:
                return user_id, frames

    async def drain_all():
        # Every socket at once, in one event loop: on Redis the process's one inbox holds the
        # frames of all of them, and its reader hands each to the sockets listening now.
        return await asyncio.gather(*(drain(user_id, channel) for user_id, channel in channels.items()))

    def frames(user):
        for user_id, got in async_to_sync(drain_all)():
            buffers.setdefault(user_id, []).extend(got)
        return buffers.pop(user.pk, [])

    yield open_socket, frames
    for user_id, channel in channels.items():
        presence.remove(user_id, channel)
        async_to_sync(layer.group_discard)(user_group(user_id), channel)


@pytest.mark.django_db
def test_fifty_like_unlike_cycles_push_the_notification_once(user_factory, befriend, sockets, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    # given an author, a friend who toggles a like and another friend, all online; the feed
    # push interval longer than the test, so the bound is exact
    monkeypatch.setattr(feed_cache, "PUSH_INTERVAL", 3600)
    open_socket, frames = sockets
    author, toggler, reader = (user_factory(username=n) for n in ("author", "toggler", "reader"))
    befriend(author, toggler)
    befriend(author, reader)
    post = PostFactory(author=author, visibility="friends")
    for user in (author, toggler, reader):
        open_socket(user)

    # when the friend likes and unlikes the post 50 times, each action committed on its own
    for _ in range(50):
        with django_capture_on_commit_callbacks(execute=True):
            post_services.post_like(post=post, user=toggler)
        with django_capture_on_commit_callbacks(execute=True):
            post_services.post_unlike(post=post, user=toggler)

    # then the author got exactly one notification.created — the grouped like — and one
    # feed.updated; the others one feed.updated each
    author_frames = frames(author)
    assert Counter(frame["type"] for frame in author_frames) == {"notification.created": 1, "feed.updated": 1}
    [pushed] = [frame["data"] for frame in author_frames if frame["type"] == "notification.created"]
    [record] = get_notification_store().list_for(author.pk)[0]
    assert (pushed["id"], pushed["type"], pushed["actor_count"]) == (record.id, "post_liked", 1)
    # and the notification recorded all 50 likes, counting the toggler once
    assert (record.actors, record.actor_count, len(record.event_ids)) == ((toggler.pk,), 1, 50)
    assert [frame["type"] for frame in frames(toggler)] == ["feed.updated"]
    assert [frame["type"] for frame in frames(reader)] == ["feed.updated"]


@pytest.mark.django_db
def test_feed_updated_is_pushed_again_once_the_interval_passed(user_factory, befriend, sockets,
                                                                django_capture_on_commit_callbacks):
    # given an online author whose scored post a friend likes, unlikes and likes again: three
    # score changes (content_score.updated → feed.updated)
    open_socket, frames = sockets
    author, fan = user_factory(username="author"), user_factory(username="fan")
    befriend(author, fan)
    post = PostFactory(author=author, visibility="friends")
    content_scores_refresh(post_ids=[post.pk])  # its first score, as on post.created
    open_socket(author)
    with django_capture_on_commit_callbacks(execute=True):
        post_services.post_like(post=post, user=fan)
    with django_capture_on_commit_callbacks(execute=True):
        post_services.post_unlike(post=post, user=fan)
    # when the interval has passed (its marker expired) before the second like
    cache.delete(f"feed:pushed:{author.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        post_services.post_like(post=post, user=fan)

    # then feed.updated came for the first like and again after the interval, not for the
    # unlike within it; the like notification once (the second like is the fan's repeat)
    assert sorted(frame["type"] for frame in frames(author)) == ["feed.updated", "feed.updated", "notification.created"]
