"""Tasks of the notification worker (queue ``notifications``), routed in
``bellamy/events/routes.py`` (``NOTIFICATION_ROUTES``).

Each event task is thin: it reads the event data and calls one service of
:mod:`notifications.services`. They run once per event (``event_task`` records the event id),
and the store's unique keys make a repeat after a crash add nothing. MongoDB connection
errors are retried with backoff.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import event_task
from notifications import services

#: The queue of every task here (set by the routes / the beat schedule entry, not the task).
QUEUE = "notifications"
RETRY = {
    "autoretry_for": (AutoReconnect, ServerSelectionTimeoutError),
    "retry_backoff": True,
    "max_retries": 5,
}


def _at(envelope: Envelope) -> datetime:
    """The event time (``occurred_at``, RFC 3339) as an aware datetime."""
    return datetime.fromisoformat(envelope.occurred_at.replace("Z", "+00:00"))


@event_task(name="notifications.friendship_requested_task", **RETRY)
def friendship_requested_task(envelope: Envelope):
    """``friendship.requested`` {request_id, from_user_id, to_user_id} → ``friend_request`` to
    ``to_user_id``. Returns the new id or ``None``."""
    data = envelope.data
    return services.notification_friend_request(
        event_id=envelope.id, from_user_id=data["from_user_id"], to_user_id=data["to_user_id"], at=_at(envelope)
    )


@event_task(name="notifications.friendship_accepted_task", **RETRY)
def friendship_accepted_task(envelope: Envelope):
    """``friendship.accepted`` {request_id, from_user_id, to_user_id} → ``friend_accepted`` to
    ``from_user_id``. Returns the new id or ``None``."""
    data = envelope.data
    return services.notification_friend_accepted(
        event_id=envelope.id, from_user_id=data["from_user_id"], to_user_id=data["to_user_id"], at=_at(envelope)
    )


@event_task(name="notifications.post_created_task", **RETRY)
def post_created_task(envelope: Envelope) -> int:
    """``post.created`` {post_id, author_id, mention_ids, ...} → ``mentioned`` and
    ``friend_posted`` fan-out. Returns how many were stored."""
    data = envelope.data
    return services.notification_post_created(
        event_id=envelope.id,
        post_id=data["post_id"],
        author_id=data["author_id"],
        mention_ids=data.get("mention_ids") or [],
        at=_at(envelope),
    )


@event_task(name="notifications.post_liked_task", **RETRY)
def post_liked_task(envelope: Envelope) -> str | None:
    """``post.liked`` {post_id, author_id, user_id} → grouped ``post_liked`` to the author.
    Returns the notification id or ``None``."""
    data = envelope.data
    record = services.notification_post_liked(
        event_id=envelope.id, post_id=data["post_id"], author_id=data["author_id"], user_id=data["user_id"],
        at=_at(envelope),
    )
    return record.id if record else None


@event_task(name="notifications.comment_created_task", **RETRY)
def comment_created_task(envelope: Envelope) -> int:
    """``comment.created`` {comment_id, post_id, author_id, user_id, mention_ids} → grouped
    ``post_commented`` to the post author + ``mentioned``. Returns how many changed."""
    data = envelope.data
    return services.notification_comment_created(
        event_id=envelope.id,
        comment_id=data["comment_id"],
        post_id=data["post_id"],
        author_id=data["author_id"],
        user_id=data["user_id"],
        mention_ids=data.get("mention_ids") or [],
        at=_at(envelope),
    )


@event_task(name="notifications.post_deleted_task", **RETRY)
def post_deleted_task(envelope: Envelope) -> int:
    """``post.deleted`` {post_id, author_id} → delete the post's notifications. Returns the count."""
    return services.notification_delete_for_post(post_id=envelope.data["post_id"])


@event_task(name="notifications.post_moderated_task", **RETRY)
def post_moderated_task(envelope: Envelope) -> int:
    """``post.moderated`` {post_id, author_id, action, moderator_id} → delete the post's
    notifications unless it is visible again. Returns the count deleted."""
    data = envelope.data
    return services.notification_post_moderated(post_id=data["post_id"], author_id=data["author_id"])


@app.task(name="notifications.expire_task")
def expire_task() -> int:
    """Periodic (beat): delete notifications older than the retention period. Returns the count."""
    return services.notification_expire()
