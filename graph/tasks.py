"""Graph worker tasks (queue ``graph``): keep the graph projection in step with the events.

Routed in ``bellamy/events/routes.py`` (``GRAPH_ROUTES``). Each task is an
:func:`~bellamy.events.idempotency.event_task`: an event is applied once per task (the record
and the ORM store's writes commit together; with Neo4j see :mod:`graph.stores.neo4j`).

Reactions (weights are directed ``from → to``; ``at`` = the event's ``occurred_at``):

==================== =========================================================================
``friendship.accepted`` add the friend edge ``from_user_id — to_user_id``
``friendship.removed``  remove the edge ``user_id — friend_id``
``user.blocked``        remove the edge and delete both weights ``blocker ↔ blocked``
``post.liked``          ``user_id → author_id`` += :data:`~graph.weights.LIKE_WEIGHT`
``post.unliked``        ``user_id → author_id`` -= :data:`~graph.weights.LIKE_WEIGHT` (floored at 0)
``comment.created``     ``user_id → author_id`` += :data:`~graph.weights.COMMENT_WEIGHT`; and
                        ``user_id → each mentioned`` += :data:`~graph.weights.MENTION_WEIGHT`
``post.created``        ``author_id → each of mention_ids`` += :data:`~graph.weights.MENTION_WEIGHT`
==================== =========================================================================

Self-interactions (liking one's own post, mentioning oneself) are ignored. When a weight
crosses :data:`~graph.weights.WEIGHT_THRESHOLD` (upward: from below to at-or-above; downward: from at-or-above
to below, including a block clearing it) the task publishes ``relationship_weight.updated``
``{from_user_id, to_user_id, weight}`` (key ``from_user_id``). Decay alone never publishes: it is
applied on read and has no moment at which it "happens".
"""

from __future__ import annotations

import logging
from datetime import datetime

from neo4j.exceptions import ServiceUnavailable, SessionExpired, TransientError

from bellamy.accounts.selectors import live_user_ids
from bellamy.caching import cache_delete_matching
from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import batch_task, event_task
from bellamy.events.services import publish
from graph import services
from graph.stores import get_graph_store
from graph.weights import COMMENT_WEIGHT, LIKE_WEIGHT, MENTION_WEIGHT, WEIGHT_THRESHOLD

logger = logging.getLogger(__name__)

#: Transient store errors retried by Celery with exponential backoff.
RETRY = {
    "autoretry_for": (ServiceUnavailable, SessionExpired, TransientError),
    "retry_backoff": True,
    "max_retries": 8,
}


def _at(envelope: Envelope) -> datetime:
    return datetime.fromisoformat(envelope.occurred_at)


def crossed(before: float, after: float, threshold: float = WEIGHT_THRESHOLD) -> bool:
    """True when a weight moved from one side of ``threshold`` to the other (``>=`` is above)."""
    return (before >= threshold) != (after >= threshold)


def change_weight(*, from_id: int, to_id: int, amount: float, at: datetime) -> float | None:
    """Add ``amount`` to ``from_id → to_id`` in the graph store; publish on a threshold crossing.

    Args:
        amount: positive to strengthen, negative to weaken (the store floors at 0).
        at: the moment of the interaction.
    Returns:
        The new weight, or ``None`` for a self-interaction or an erased user (ignored: an event
        still queued when the account was erased must not bring its node back).
    Events:
        ``relationship_weight.updated`` ``{from_user_id, to_user_id, weight}`` on a crossing.
    """
    if from_id == to_id or len(live_user_ids([from_id, to_id])) < 2:
        return None
    store = get_graph_store()
    before = store.weight(from_id, to_id, at=at)
    after = store.strengthen(from_id, to_id, amount, at=at)
    if crossed(before, after):
        publish(
            "relationship_weight.updated",
            key=from_id,
            data={"from_user_id": from_id, "to_user_id": to_id, "weight": after},
        )
    return after


def _mentions(author_id: int, mention_ids, at: datetime) -> None:
    for mentioned in sorted({int(m) for m in mention_ids or ()} - {author_id}):
        change_weight(from_id=author_id, to_id=mentioned, amount=MENTION_WEIGHT, at=at)


@event_task(name="graph.add_friendship_task", **RETRY)
def add_friendship_task(envelope: Envelope) -> None:
    """``friendship.accepted`` ``{request_id, from_user_id, to_user_id}`` → add the edge
    (not for an erased user: its node is gone for good)."""
    data = envelope.data
    pair = (int(data["from_user_id"]), int(data["to_user_id"]))
    if len(live_user_ids(pair)) == 2:
        get_graph_store().add_friendship(*pair)


@event_task(name="graph.remove_friendship_task", **RETRY)
def remove_friendship_task(envelope: Envelope) -> None:
    """``friendship.removed`` ``{user_id, friend_id}`` → remove the edge."""
    data = envelope.data
    get_graph_store().remove_friendship(int(data["user_id"]), int(data["friend_id"]))


@event_task(name="graph.block_task", **RETRY)
def block_task(envelope: Envelope) -> None:
    """``user.blocked`` ``{blocker_id, blocked_id}`` → remove the edge and both weights.

    Publishes ``relationship_weight.updated`` with weight 0.0 for each direction that was at or
    above the threshold.
    """
    blocker, blocked = int(envelope.data["blocker_id"]), int(envelope.data["blocked_id"])
    if blocker == blocked:
        return
    store, at = get_graph_store(), _at(envelope)
    before = {(blocker, blocked): store.weight(blocker, blocked, at=at),
              (blocked, blocker): store.weight(blocked, blocker, at=at)}
    store.remove_friendship(blocker, blocked)
    store.clear_interactions(blocker, blocked)
    for (from_id, to_id), weight in before.items():
        if crossed(weight, 0.0):
            publish("relationship_weight.updated", key=from_id,
                    data={"from_user_id": from_id, "to_user_id": to_id, "weight": 0.0})


@event_task(name="graph.like_task", **RETRY)
def like_task(envelope: Envelope) -> None:
    """``post.liked`` ``{post_id, author_id, user_id}`` → ``liker → author`` += 1.0."""
    data = envelope.data
    change_weight(from_id=int(data["user_id"]), to_id=int(data["author_id"]),
                  amount=LIKE_WEIGHT, at=_at(envelope))


@event_task(name="graph.unlike_task", **RETRY)
def unlike_task(envelope: Envelope) -> None:
    """``post.unliked`` ``{post_id, author_id, user_id}`` → ``liker → author`` -= 1.0 (floor 0)."""
    data = envelope.data
    change_weight(from_id=int(data["user_id"]), to_id=int(data["author_id"]),
                  amount=-LIKE_WEIGHT, at=_at(envelope))


@event_task(name="graph.comment_task", **RETRY)
def comment_task(envelope: Envelope) -> None:
    """``comment.created`` ``{comment_id, post_id, author_id, user_id, mention_ids}`` →
    ``commenter → post author`` += 2.0 and ``commenter → mentioned`` += 0.5 each."""
    data, at = envelope.data, _at(envelope)
    commenter = int(data["user_id"])
    change_weight(from_id=commenter, to_id=int(data["author_id"]), amount=COMMENT_WEIGHT, at=at)
    _mentions(commenter, data.get("mention_ids"), at)


@event_task(name="graph.post_mentions_task", **RETRY)
def post_mentions_task(envelope: Envelope) -> None:
    """``post.created`` ``{..., author_id, mention_ids}`` → ``author → mentioned`` += 0.5 each."""
    data = envelope.data
    _mentions(int(data["author_id"]), data.get("mention_ids"), _at(envelope))


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
        cache_delete_matching([f"graph:suggestions:{user_id}:*"])
    return {"users": len(user_ids), "friend_requests": result.friend_requests,
            "friendships": result.friendships, "blocks": result.blocks}
