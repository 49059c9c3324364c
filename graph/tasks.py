"""Graph worker tasks (queue ``graph``): thin wrappers around :mod:`graph.sync`.

One route, ``graph.apply_events_task``, takes every event type the graph worker handles
(``GRAPH_ROUTES`` in ``bellamy/events/routes.py``), so a batch arrives as one task and its
events keep their delivery order across types (an accept, a like and a block of one batch are
applied in that order). The task is a :func:`~bellamy.events.idempotency.batch_task`: the events
already handled are skipped in one statement and the rest recorded in the transaction of the
service's PostgreSQL writes; the Neo4j store records the events it applied itself
(:mod:`graph.stores.neo4j`), so a redelivered batch changes nothing on either store.
"""

from __future__ import annotations

from django.utils import timezone
from neo4j.exceptions import ServiceUnavailable, SessionExpired, TransientError

from bellamy.caching import cache_delete_matching
from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import batch_task
from graph import services, sync
from graph.stores import get_graph_store
from graph.stores.base import APPLIED_RETENTION

#: Transient store errors retried by Celery with exponential backoff.
RETRY = {
    "autoretry_for": (ServiceUnavailable, SessionExpired, TransientError),
    "retry_backoff": True,
    "max_retries": 8,
}


@batch_task("graph.apply_events_task", **RETRY)
def apply_events_task(envelopes: list[Envelope]) -> dict:
    """A batch of ``friendship.accepted``, ``friendship.removed``, ``user.blocked``,
    ``post.liked``, ``post.unliked``, ``comment.created`` and ``post.created`` → friend edges and
    interaction weights (:func:`graph.sync.projection_apply_events`).

    Returns:
        ``{"friendships", "steps", "published"}`` counts of the batch.
    Events:
        ``relationship_weight.updated`` on each threshold crossing.
    """
    result = sync.projection_apply_events(events=envelopes)
    return {"friendships": result.friendships, "steps": result.steps, "published": result.published}


@app.task(name="graph.prune_applied_events_task")
def prune_applied_events_task() -> int:
    """Beat task: forget the graph store's applied-event records older than
    :data:`~graph.stores.base.APPLIED_RETENTION` (7 days). Returns how many were deleted."""
    return get_graph_store().prune_applied(timezone.now() - APPLIED_RETENTION)


# --- account erasure (README "Account lifecycle") --------------------------------------------


@batch_task("graph.user_deleted_task", **RETRY)
def user_deleted_task(envelopes: list[Envelope]) -> dict:
    """``user.deleted`` ``{user_id}`` → forget the users in both graph stores: their friend
    requests, friendships and blocks in PostgreSQL (:func:`graph.services.user_relations_erase`),
    their node with every friend edge and weight in the graph store, and their cached friend
    suggestions. The PostgreSQL deletions commit with the task's idempotency records; the graph
    store's deletion is idempotent (a retry deletes nothing more).

    Returns:
        ``{"users", "friend_requests", "friendships", "blocks"}`` counts.
    """
    user_ids = sorted({int(e.data["user_id"]) for e in envelopes})
    result = services.user_relations_erase(user_ids=user_ids)
    store = get_graph_store()
    for user_id in user_ids:
        store.delete_user(user_id)
        cache_delete_matching([f"graph:suggestions:{user_id}:*", f"graph:suggestions:ver:{user_id}"])
    return {"users": len(user_ids), "friend_requests": result.friend_requests,
            "friendships": result.friendships, "blocks": result.blocks}
