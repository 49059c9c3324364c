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
queue is consumed serially: one worker process with ``--concurrency 1``. Events of *different* types (different topics)
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
SCORING_ROUTES: dict[str, tuple[Route, ...]] = {
    "post.created": (Route("feed.post_created_task", "scoring"),),
    "post.liked": (Route("feed.post_liked_task", "scoring"),),
    "post.unliked": (Route("feed.post_unliked_task", "scoring"),),
    "comment.created": (Route("feed.comment_created_task", "scoring"),),
    "post.deleted": (Route("feed.post_deleted_task", "scoring"),),
    "post.moderated": (Route("feed.post_moderated_task", "scoring"),),
}

# --- graph worker (relationship weights, suggestions) -----------------------------------------
GRAPH_ROUTES: dict[str, tuple[Route, ...]] = {
    "friendship.accepted": (Route("graph.add_friendship_task", "graph"),),
    "friendship.removed": (Route("graph.remove_friendship_task", "graph"),),
    "user.blocked": (Route("graph.block_task", "graph"),),
    "post.liked": (Route("graph.like_task", "graph"),),
    "post.unliked": (Route("graph.unlike_task", "graph"),),
    "comment.created": (Route("graph.comment_task", "graph"),),
    "post.created": (Route("graph.post_mentions_task", "graph"),),
}

# --- notification worker (notification store + pushes) ----------------------------------------
NOTIFICATION_ROUTES: dict[str, tuple[Route, ...]] = {
    "friendship.requested": (Route("notifications.friendship_requested_task", "notifications"),),
    "friendship.accepted": (Route("notifications.friendship_accepted_task", "notifications"),),
    "post.created": (Route("notifications.post_created_task", "notifications"),),
    "post.liked": (Route("notifications.post_liked_task", "notifications"),),
    "comment.created": (Route("notifications.comment_created_task", "notifications"),),
    "post.deleted": (Route("notifications.post_deleted_task", "notifications"),),
    "post.moderated": (Route("notifications.post_moderated_task", "notifications"),),
}

# --- trending worker (trends.GlobalTrend) -----------------------------------------------------
TREND_ROUTES: dict[str, tuple[Route, ...]] = {
    "post.created": (Route("trends.post_created_task", "trends"),),
    "post.updated": (Route("trends.post_updated_task", "trends"),),
    "post.deleted": (Route("trends.post_deleted_task", "trends"),),
    "post.moderated": (Route("trends.post_moderated_task", "trends"),),
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


def merge(*tables: dict[str, tuple[Route, ...]]) -> dict[str, tuple[Route, ...]]:
    """Concatenate routing tables: ``{type: routes of table 1 + routes of table 2 + ...}``."""
    merged: dict[str, tuple[Route, ...]] = {}
    for table in tables:
        for event_type, routes in table.items():
            merged[event_type] = merged.get(event_type, ()) + routes
    return merged


#: Event type → routes. A type with no entry is valid and simply has no reactions yet.
ROUTES: dict[str, tuple[Route, ...]] = merge(
    SCORING_ROUTES, GRAPH_ROUTES, NOTIFICATION_ROUTES, TREND_ROUTES, DEFAULT_ROUTES
)
