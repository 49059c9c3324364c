"""Two constructed days of activity with known counts (``world``), staff and clients."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from bellamy.events.models import ProcessedEvent
from graph.models import Friendship
from notifications.models import Notification
from tests.posts.factories import CommentFactory, LikeFactory, PostFactory

DAY0, DAY1, DAY2 = date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 2)

#: Exactly what the rollup must find for each constructed day.
EXPECTED = {
    DAY0: {"active_users": 0, "new_users": 1, "posts": 0, "likes": 0, "comments": 0, "friendships": 0,
           "notifications_sent": 1, "events_processed": 0},
    DAY1: {"active_users": 5, "new_users": 3, "posts": 3, "likes": 4, "comments": 1, "friendships": 2,
           "notifications_sent": 3, "events_processed": 2},
    DAY2: {"active_users": 2, "new_users": 1, "posts": 1, "likes": 0, "comments": 1, "friendships": 1,
           "notifications_sent": 0, "events_processed": 1},
}


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=UTC)


@dataclass
class World:
    users: dict


def friendship(a, b, when):
    low, high = sorted((a.pk, b.pk))
    row = Friendship.objects.create(user_low_id=low, user_high_id=high)
    Friendship.objects.filter(pk=row.pk).update(created_at=when)


def notification(recipient, when):
    Notification.objects.create(
        recipient_id=recipient.pk, type="friend_posted", actors=[1], event_id=uuid.uuid4().hex,
        event_ids=[], created_at=when, updated_at=when,
    )


def processed(event_id, task, when):
    row = ProcessedEvent.objects.create(event_id=event_id, task_name=task)
    ProcessedEvent.objects.filter(pk=row.pk).update(processed_at=when)


@pytest.fixture
def world(user_factory):
    """Day 0 (2024-02-29): eve joins; one notification at 23:59:59.999999.
    Day 1 (2024-03-01): alice, bob, carol join; alice posts twice, bob once (3 posts by 2
    users, the last at 23:59:59.999999); carol likes two posts, dave and alice one each
    (4 likes); eve comments once; 2 friendships; 3 notifications; events A (two tasks) and B.
    Day 2 (2024-03-02): dave joins at 00:00:00 and posts at 00:00:00; bob comments (then deletes
    it: still counted); 1 friendship; event C.
    """
    eve = user_factory(username="eve", date_joined=at(DAY0, 9))
    alice = user_factory(username="alice", date_joined=at(DAY1, 0))
    bob = user_factory(username="bob", date_joined=at(DAY1, 8))
    carol = user_factory(username="carol", date_joined=at(DAY1, 23, 59, 59, 999999))
    dave = user_factory(username="dave", date_joined=at(DAY2, 0))
    p1 = PostFactory(author=alice, created_at=at(DAY1, 1))
    p2 = PostFactory(author=alice, created_at=at(DAY1, 2))
    p3 = PostFactory(author=bob, created_at=at(DAY1, 23, 59, 59, 999999))
    PostFactory(author=dave, created_at=at(DAY2, 0))
    LikeFactory(post=p1, user=carol, created_at=at(DAY1, 3))
    LikeFactory(post=p2, user=carol, created_at=at(DAY1, 4))
    LikeFactory(post=p1, user=dave, created_at=at(DAY1, 5))
    LikeFactory(post=p3, user=alice, created_at=at(DAY1, 6))
    CommentFactory(post=p1, author=eve, created_at=at(DAY1, 7))
    CommentFactory(post=p2, author=bob, created_at=at(DAY2, 7), deleted_at=at(DAY2, 8))
    friendship(alice, bob, at(DAY1, 10))
    friendship(alice, carol, at(DAY1, 11))
    friendship(bob, dave, at(DAY2, 10))
    notification(alice, at(DAY0, 23, 59, 59, 999999))
    for recipient in (alice, bob, carol):
        notification(recipient, at(DAY1, 13))
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    processed(a, "feed.post_created_task", at(DAY1, 1))
    processed(a, "trends.post_created_task", at(DAY1, 1))
    processed(b, "feed.post_liked_task", at(DAY1, 3))
    processed(c, "feed.post_created_task", at(DAY2, 0))
    return World(users={u.username: u for u in (eve, alice, bob, carol, dave)})
