"""Tasks of the notification worker (queue ``notifications``), routed in
``bellamy/events/routes.py`` (``NOTIFICATION_ROUTES``). A friend's new post reaches online
friends only as the notification this worker stores and pushes (README "Real time").

One route, ``notifications.notify_task``, takes every event type that notifies (friend requests
and accepts, new posts, likes, comments, deletions and moderation), so a batch is one task: one
bulk write for all its recipients and one push call (:func:`notifications.services.notifications_apply_events`).
The task is a :func:`~bellamy.events.idempotency.batch_task` (events already handled are
skipped in one statement), and the store's unique keys make a repeat after a crash add nothing.
MongoDB connection errors are retried with backoff.
"""

from __future__ import annotations

from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import batch_task
from notifications import services

#: The queue of every task here (set by the routes / the beat schedule entry, not the task).
QUEUE = "notifications"
RETRY = {
    "autoretry_for": (AutoReconnect, ServerSelectionTimeoutError),
    "retry_backoff": True,
    "max_retries": 5,
}


@batch_task("notifications.notify_task", **RETRY)
def notify_task(envelopes: list[Envelope]) -> dict:
    """A batch of ``friendship.requested``, ``friendship.accepted``, ``post.created``,
    ``post.liked``, ``comment.created``, ``post.deleted`` and ``post.moderated`` → store, group
    and delete notifications in bulk, then push the new and changed ones after commit.

    Returns:
        ``{"stored", "grouped", "deleted", "to_push"}`` counts of the batch.
    """
    result = services.notifications_apply_events(events=envelopes)
    return {"stored": result.stored, "grouped": result.grouped, "deleted": result.deleted, "to_push": result.to_push}


@app.task(name="notifications.expire_task")
def expire_task() -> int:
    """Periodic (beat): delete notifications older than the retention period. Returns the count."""
    return services.notification_expire()


# --- account lifecycle (README "Account lifecycle") ------------------------------------------


@batch_task("notifications.user_deleted_task", **RETRY)
def user_deleted_task(envelopes: list[Envelope]) -> int:
    """``user.deleted`` ``{user_id}`` → forget the users in the notification store
    (:func:`notifications.services.notifications_user_erase`). Returns how many were deleted."""
    return services.notifications_user_erase(user_ids=[int(e.data["user_id"]) for e in envelopes])


@batch_task("notifications.user_content_erased_task", **RETRY)
def user_content_erased_task(envelopes: list[Envelope]) -> int:
    """``user.content_erased`` ``{user_id, post_ids, engaged_post_ids}`` → delete the
    notifications about the erased posts (:func:`notifications.services.notification_delete_for_posts`).
    Returns how many were deleted."""
    return services.notification_delete_for_posts(post_ids=[int(p) for e in envelopes for p in e.data["post_ids"]])
