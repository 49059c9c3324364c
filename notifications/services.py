"""Writes of the ``notifications`` domain: what each event notifies, marking read, expiry.

Rules for every event (ARCHITECTURE.md §5): the actor is never notified about their own
action, nor is a user blocked either way with the actor, nor anyone who cannot see the post
(``posts.selectors.visible_posts`` through :mod:`notifications.selectors`). Every write is
idempotent per ``(event id, recipient)``. After storing, each new or updated notification is
pushed to its recipient's open sockets (``{"type": "notification.created", "data":
<notification object>}``) once the surrounding transaction commits: a friend's new post reaches
each online friend as that one frame (``friend_posted`` or ``mentioned``, README "Real time").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bellamy import metrics
from bellamy.realtime.presence import get_presence
from bellamy.realtime.services import push_messages
from graph import selectors as graph_selectors
from notifications import selectors
from notifications.stores import get_notification_store
from notifications.stores.base import (
    DEFAULT_RETENTION_DAYS,
    FRIEND_ACCEPTED,
    FRIEND_POSTED,
    FRIEND_REQUEST,
    MENTIONED,
    POST_COMMENTED,
    POST_LIKED,
    NewNotification,
    NotificationRecord,
    group_key_for,
)

logger = logging.getLogger(__name__)

PUSH_TYPE = "notification.created"


def _push_on_commit(records: Sequence[NotificationRecord]) -> None:
    """After commit, push each record to its recipient if online (actors resolved in one
    query for the batch)."""
    if not records:
        return
    records = list(records)

    def push() -> None:
        # One presence round trip for the whole batch; offline recipients cost nothing more.
        online = get_presence().online({record.recipient_id for record in records})
        pending = [record for record in records if record.recipient_id in online]
        metrics.push_offline(PUSH_TYPE, len(records) - len(pending))
        push_messages(
            (record.recipient_id, {"type": PUSH_TYPE, "data": data})
            for record, data in zip(pending, selectors.notification_objects(pending), strict=True)
        )

    transaction.on_commit(push)


def _add(notifications: Sequence[NewNotification]) -> list[str]:
    """Store ``notifications`` in one bulk write and push the new ones; return their ids."""
    if not notifications:
        return []
    records = get_notification_store().add_many_records(notifications)
    _push_on_commit(records)
    return [record.id for record in records]


def _notify_one(
    *, type: str, event_id: str, recipient_id: int, actor_id: int, at: datetime, post_id: int | None = None
) -> str | None:
    if recipient_id == actor_id or graph_selectors.is_blocked_either_way(recipient_id, actor_id):
        return None
    ids = _add([NewNotification(recipient_id, type, event_id, actor_id, at, post_id=post_id)])
    return ids[0] if ids else None


def notification_friend_request(*, event_id: str, from_user_id: int, to_user_id: int, at: datetime) -> str | None:
    """``friendship.requested``: notify ``to_user_id`` (type ``friend_request``, actor the sender).

    Returns:
        The new notification's id, or ``None`` (replay, self, or blocked either way).
    """
    return _notify_one(type=FRIEND_REQUEST, event_id=event_id, recipient_id=to_user_id, actor_id=from_user_id, at=at)


def notification_friend_accepted(*, event_id: str, from_user_id: int, to_user_id: int, at: datetime) -> str | None:
    """``friendship.accepted``: notify the request's sender ``from_user_id`` (type
    ``friend_accepted``, actor ``to_user_id`` who accepted).

    Returns:
        The new notification's id, or ``None`` (replay, self, or blocked either way).
    """
    return _notify_one(type=FRIEND_ACCEPTED, event_id=event_id, recipient_id=from_user_id, actor_id=to_user_id, at=at)


def notification_post_created(
    *,
    event_id: str,
    post_id: int,
    author_id: int,
    mention_ids: Iterable[int],
    at: datetime,
    batch_size: int = selectors.FANOUT_BATCH_SIZE,
) -> int:
    """``post.created``: ``mentioned`` to each mentioned user who can see the post, then
    ``friend_posted`` to every other friend of the author who can see it, in bulk batches of
    ``batch_size`` (one write per batch, never one per friend).

    A mentioned friend gets only the ``mentioned`` notification (one per event and recipient).

    Returns:
        How many notifications were stored (0 for a replay).
    """
    mentioned = selectors.users_who_can_see_post(post_id, mention_ids, actor_id=author_id)
    stored = len(
        _add([NewNotification(uid, MENTIONED, event_id, author_id, at, post_id=post_id) for uid in mentioned])
    )
    for batch in selectors.friends_who_can_see_post(post_id, author_id, exclude=mentioned, batch_size=batch_size):
        stored += len(
            _add([NewNotification(uid, FRIEND_POSTED, event_id, author_id, at, post_id=post_id) for uid in batch])
        )
    return stored


def _group_one(
    *, type: str, event_id: str, post_id: int, author_id: int, actor_id: int, at: datetime,
    comment_id: int | None = None,
) -> NotificationRecord | None:
    if actor_id == author_id or graph_selectors.is_blocked_either_way(author_id, actor_id):
        return None
    if not selectors.can_see_post(author_id, post_id):
        return None
    record = get_notification_store().group_add(
        NewNotification(author_id, type, event_id, actor_id, at, post_id=post_id, comment_id=comment_id),
        group_key=group_key_for(type, post_id, at),
    )
    if record is not None:
        _push_on_commit([record])
    return record


def notification_post_liked(
    *, event_id: str, post_id: int, author_id: int, user_id: int, at: datetime
) -> NotificationRecord | None:
    """``post.liked``: add the liker to the post author's grouped ``post_liked`` notification
    of that post and hour (``stores.base`` "Grouping").

    Returns:
        The notification after the change, or ``None`` (replay, own post, blocked either way,
        or the author can no longer see the post).
    """
    return _group_one(type=POST_LIKED, event_id=event_id, post_id=post_id, author_id=author_id, actor_id=user_id, at=at)


def notification_comment_created(
    *,
    event_id: str,
    comment_id: int,
    post_id: int,
    author_id: int,
    user_id: int,
    mention_ids: Iterable[int],
    at: datetime,
) -> int:
    """``comment.created``: the commenter joins the post author's grouped ``post_commented``
    notification; each user mentioned in the comment (other than the commenter and the post
    author, who has the grouped one) who can see the post gets ``mentioned``.

    Returns:
        How many notifications were created or updated (0 for a replay).
    """
    grouped = _group_one(
        type=POST_COMMENTED, event_id=event_id, post_id=post_id, author_id=author_id, actor_id=user_id, at=at,
        comment_id=comment_id,
    )
    candidates = [uid for uid in mention_ids if uid != author_id]
    mentioned = selectors.users_who_can_see_post(post_id, candidates, actor_id=user_id)
    ids = _add(
        [NewNotification(uid, MENTIONED, event_id, user_id, at, post_id=post_id, comment_id=comment_id) for uid in mentioned]
    )
    return len(ids) + (1 if grouped is not None else 0)


def notification_delete_for_post(*, post_id: int) -> int:
    """Delete every notification about post ``post_id`` (``post.deleted``, ``post.moderated``).

    Returns:
        How many were deleted.
    """
    return get_notification_store().delete_for_subject(post_id)


def notification_post_moderated(*, post_id: int, author_id: int) -> int:
    """``post.moderated``: when the post is no longer visible to its own author as an
    ordinary member (hidden, removed or deleted), delete its notifications; a post restored to
    visible keeps them.

    Returns:
        How many were deleted.
    """
    if selectors.can_see_post(author_id, post_id):
        return 0
    return notification_delete_for_post(post_id=post_id)


def notification_mark_read(*, user_id: int, ids: list[str] | None = None, all: bool = False) -> int:
    """Mark ``user_id``'s notifications read: those in ``ids`` (other users' ids are ignored)
    or ``all`` of them.

    Returns:
        How many went from unread to read.
    Raises:
        ValueError: both or neither of ``ids`` and ``all``.
    """
    return get_notification_store().mark_read(user_id, ids=ids, all=all)


def retention() -> timedelta:
    """The retention period: ``BELLAMY_NOTIFICATION_RETENTION_DAYS`` days (default 90)."""
    return timedelta(days=getattr(settings, "BELLAMY_NOTIFICATION_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def notification_expire(*, older_than: datetime | None = None) -> int:
    """Delete notifications created before ``older_than`` (default: now − retention).

    Returns:
        How many were deleted.
    """
    cutoff = older_than if older_than is not None else timezone.now() - retention()
    deleted = get_notification_store().expire(cutoff)
    logger.info("expired %d notification(s) created before %s", deleted, cutoff.isoformat())
    return deleted
