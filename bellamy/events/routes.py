"""The routing table: event type → the Celery tasks that react to it, and their queue.

This is the only wiring between producers and reacting domains (ARCHITECTURE.md §4, §10):
tasks are named by their registered Celery names, never imported, so ``bellamy.events``
imports no domain app. Each worker serves one queue: ``scoring``, ``graph``,
``notifications``, ``trends`` or ``default``. One block per worker below; ``ROUTES`` merges
them in that order.

Batches (ARCHITECTURE.md §11): ``dispatch_batch`` groups a batch of envelopes by route and
enqueues **one** task per route whose argument is the list of that route's envelopes; a task
registered with :func:`bellamy.events.idempotency.batch_task` handles the list as one unit.

Order guarantee. Events of one type and one key are on one Kafka partition, and reach a route's
handler in publication order *within* a batch (the list's order). Across batches, a route's
tasks are enqueued in batch order on its queue, so order holds across batches only where the
queue is consumed serially: one worker process with ``--concurrency 1`` (a failing batch is
retried in place, so a later batch never overtakes it; a batch redelivered after its worker died
is handed out before the queue's waiting ones). Events of *different* types (different topics)
are ordered within a batch by ``occurred_at``, but not across batches. Hence:

* ``graph`` applies state changes from the events (friend edge added/removed, weight +/-): run
  its queue serially. Where the outcome depends on the order of two *types* (accepted then
  removed), the handler must converge on the state in PostgreSQL rather than trust arrival order.
* ``scoring``, ``trends`` and cache invalidation recompute from the database: any order gives the
  same result, so their queues can be served by several processes.
* ``notifications`` stores per-event rows keyed by event and recipient and deletes by post: serial
  by default; a ``post.deleted`` overtaking its ``post.created`` must be caught by the handler
  checking that the post still exists.
"""

from __future__ import annotations

from typing import NamedTuple


class Route(NamedTuple):
    """One task to enqueue for an event: its Celery name and the queue it runs on."""

    task: str
    queue: str


# --- scoring worker (feed.ContentScore) -------------------------------------------------------
# One task per batch: every type means "rescore these posts".
_RESCORE = Route("feed.rescore_posts_task", "scoring")
SCORING_ROUTES: dict[str, tuple[Route, ...]] = {
    "post.created": (_RESCORE,),
    "post.liked": (_RESCORE,),
    "post.unliked": (_RESCORE,),
    "comment.created": (_RESCORE,),
    "post.deleted": (_RESCORE,),
    "post.moderated": (_RESCORE,),
}

# --- graph worker (relationship weights, suggestions) -----------------------------------------
# One task per batch, so the events of a batch keep their order across types.
_GRAPH = Route("graph.apply_events_task", "graph")
GRAPH_ROUTES: dict[str, tuple[Route, ...]] = {
    "friendship.accepted": (_GRAPH,),
    "friendship.removed": (_GRAPH,),
    "user.blocked": (_GRAPH,),
    "post.liked": (_GRAPH,),
    "post.unliked": (_GRAPH,),
    "comment.created": (_GRAPH,),
    "post.created": (_GRAPH,),
}

# --- notification worker (notification store + pushes) ----------------------------------------
# One task per batch: one bulk write and one push call for the whole batch.
_NOTIFY = Route("notifications.notify_task", "notifications")
NOTIFICATION_ROUTES: dict[str, tuple[Route, ...]] = {
    "friendship.requested": (_NOTIFY,),
    "friendship.accepted": (_NOTIFY,),
    "post.created": (_NOTIFY,),
    "post.liked": (_NOTIFY,),
    "comment.created": (_NOTIFY,),
    "post.deleted": (_NOTIFY,),
    "post.moderated": (_NOTIFY,),
}

# --- trending worker (trends.GlobalTrend) -----------------------------------------------------
# One task per batch: every type means "sync these posts' hashtag contributions".
_TRENDS = Route("trends.sync_posts_task", "trends")
TREND_ROUTES: dict[str, tuple[Route, ...]] = {
    "post.created": (_TRENDS,),
    "post.updated": (_TRENDS,),
    "post.deleted": (_TRENDS,),
    "post.moderated": (_TRENDS,),
}

# --- default queue (cache invalidation, real-time pushes) -------------------------------------
_INVALIDATE = Route("feed.invalidate_feeds_task", "default")
DEFAULT_ROUTES: dict[str, tuple[Route, ...]] = {
    # A friend's new post reaches friends' sockets only as the notification worker's
    # notification.created (one frame per post and friend, README "Real time").
    "post.created": (_INVALIDATE,),
    "post.updated": (_INVALIDATE,),
    "post.deleted": (_INVALIDATE,),
    "post.moderated": (_INVALIDATE,),
    "content_score.updated": (_INVALIDATE,),
    "friendship.accepted": (_INVALIDATE,),
    "friendship.removed": (_INVALIDATE,),
    "user.blocked": (_INVALIDATE,),
}


# --- account lifecycle: one handler per store that holds a user -------------------------------
# ``user.deactivated`` / ``user.reactivated`` (the account disappears / comes back): trends
# follow the author's posts, the feeds of the user and their friends are invalidated.
# ``user.deleted`` (erasure): every store forgets the user; the posts handler then publishes
# ``user.content_erased`` with the posts it erased and the posts that lost the user's likes and
# comments, for the scores and the notifications about those posts.
_VISIBILITY = (Route("trends.user_visibility_task", "trends"), Route("feed.user_visibility_task", "default"))
LIFECYCLE_ROUTES: dict[str, tuple[Route, ...]] = {
    "user.deactivated": _VISIBILITY,
    "user.reactivated": _VISIBILITY,
    "user.deleted": (
        Route("posts.user_deleted_task", "default"),
        Route("graph.user_deleted_task", "graph"),
        Route("notifications.user_deleted_task", "notifications"),
        Route("trends.user_visibility_task", "trends"),
        Route("feed.user_deleted_task", "default"),
        Route("accounts.user_deleted_task", "default"),
        Route("exports.user_deleted_task", "default"),
    ),
    "user.content_erased": (
        Route("feed.user_content_erased_task", "scoring"),
        Route("notifications.user_content_erased_task", "notifications"),
    ),
}


def merge(*tables: dict[str, tuple[Route, ...]]) -> dict[str, tuple[Route, ...]]:
    """Concatenate routing tables: ``{type: routes of table 1 + routes of table 2 + ...}``."""
    merged: dict[str, tuple[Route, ...]] = {}
    for table in tables:
        for event_type, routes in table.items():
            merged[event_type] = merged.get(event_type, ()) + routes
    return merged


#: Event type → routes. A type with no entry is valid and simply has no reactions yet.
ROUTES: dict[str, tuple[Route, ...]] = merge(
    SCORING_ROUTES, GRAPH_ROUTES, NOTIFICATION_ROUTES, TREND_ROUTES, DEFAULT_ROUTES, LIFECYCLE_ROUTES
)
