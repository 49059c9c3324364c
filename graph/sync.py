"""The graph worker's services: keep the graph projection in step with the events, a batch at a time.

Called by ``graph.apply_events_task`` (:mod:`graph.tasks`, queue ``graph``) with the new events
of a batch, in delivery order; a single event is a batch of one. Reactions (weights are directed
``from → to``; ``at`` = the event's ``occurred_at``):

======================= ======================================================================
``friendship.accepted`` the pair's friend edge follows PostgreSQL (present)
``friendship.removed``  the pair's friend edge follows PostgreSQL (absent)
``user.blocked``        the pair's friend edge follows PostgreSQL; both weights
                        ``blocker ↔ blocked`` are deleted
``post.liked``          ``user_id → author_id`` += :data:`~graph.weights.LIKE_WEIGHT`
``post.unliked``        ``user_id → author_id`` -= :data:`~graph.weights.LIKE_WEIGHT` (floored at 0)
``comment.created``     ``user_id → author_id`` += :data:`~graph.weights.COMMENT_WEIGHT`; and
                        ``user_id → each mentioned`` += :data:`~graph.weights.MENTION_WEIGHT`
``post.created``        ``author_id → each of mention_ids`` += :data:`~graph.weights.MENTION_WEIGHT`
======================= ======================================================================

Self-interactions (liking one's own post, mentioning oneself) are ignored.

**Bulk, in order.** Friend edges: the batch's pairs are read from PostgreSQL (one query) and
written to the store in one :meth:`~graph.stores.base.GraphStore.set_friendships` call, so an
accept and a remove of one pair converge on the source of truth whatever their order across
batches. Weights: every change of the batch goes to one
:meth:`~graph.stores.base.GraphStore.apply_interactions` call, which folds them in delivery order
(a like after a block counts, one before it is cleared) and writes them in one bulk statement
(Neo4j: one ``UNWIND``), exactly once per event id even on Neo4j, outside the task's PostgreSQL
transaction (:mod:`graph.stores.neo4j`).

**Events.** When a weight crosses :data:`~graph.weights.WEIGHT_THRESHOLD` (upward: from below to
at-or-above; downward: from at-or-above to below, including a block clearing it) the service
publishes ``relationship_weight.updated`` ``{from_user_id, to_user_id, weight}`` (key
``from_user_id``). Decay alone never publishes: it is applied on read and has no moment at which
it "happens".

**Suggestions.** After a friendship change commits, the suggestion cache versions of both users
and of each one's friends are bumped (:func:`graph.suggestions.suggestion_versions_bump`), so
their friends-of-friends are fresh on the next request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from bellamy.accounts.selectors import erased_user_ids
from bellamy.events.envelope import Envelope
from bellamy.events.services import publish
from graph import selectors
from graph.stores import get_graph_store
from graph.stores.base import InteractionChange, InteractionStep
from graph.suggestions import suggestion_versions_bump
from graph.weights import COMMENT_WEIGHT, LIKE_WEIGHT, MENTION_WEIGHT, WEIGHT_THRESHOLD

logger = logging.getLogger(__name__)

#: The event types the graph worker handles.
EVENT_TYPES = (
    "friendship.accepted", "friendship.removed", "user.blocked",
    "post.liked", "post.unliked", "comment.created", "post.created",
)
#: ``data`` fields naming the two users of each friendship-changing event.
PAIR_FIELDS = {
    "friendship.accepted": ("from_user_id", "to_user_id"),
    "friendship.removed": ("user_id", "friend_id"),
    "user.blocked": ("blocker_id", "blocked_id"),
}


@dataclass(frozen=True)
class ProjectionResult:
    """What :func:`projection_apply_events` did: friend pairs synced, weight steps applied (new
    and recorded), ``relationship_weight.updated`` events published, suggestion versions bumped
    (counted when the bump ran; it runs after commit)."""

    friendships: int
    steps: int
    published: int
    suggestion_users: int


def crossed(before: float, after: float, threshold: float = WEIGHT_THRESHOLD) -> bool:
    """True when a weight moved from one side of ``threshold`` to the other (``>=`` is above)."""
    return (before >= threshold) != (after >= threshold)


def event_moment(envelope: Envelope) -> datetime:
    """The event's ``occurred_at`` (RFC 3339) as an aware datetime."""
    return datetime.fromisoformat(envelope.occurred_at.replace("Z", "+00:00"))


def _mentions(event_id: str, author_id: int, mention_ids, at: datetime) -> list[InteractionChange]:
    return [
        InteractionChange(event_id, author_id, mentioned, at, amount=MENTION_WEIGHT)
        for mentioned in sorted({int(m) for m in mention_ids or ()} - {author_id})
    ]


def interaction_changes(envelope: Envelope) -> list[InteractionChange]:
    """The weight changes of one event (module table), self-interactions left out."""
    data, at, event_id = envelope.data, event_moment(envelope), envelope.id
    if envelope.type in ("post.liked", "post.unliked"):
        liker, author = int(data["user_id"]), int(data["author_id"])
        amount = LIKE_WEIGHT if envelope.type == "post.liked" else -LIKE_WEIGHT
        return [InteractionChange(event_id, liker, author, at, amount=amount)] if liker != author else []
    if envelope.type == "comment.created":
        commenter, author = int(data["user_id"]), int(data["author_id"])
        changes = [InteractionChange(event_id, commenter, author, at, amount=COMMENT_WEIGHT)] if commenter != author else []
        return changes + _mentions(event_id, commenter, data.get("mention_ids"), at)
    if envelope.type == "post.created":
        return _mentions(event_id, int(data["author_id"]), data.get("mention_ids"), at)
    if envelope.type == "user.blocked":
        blocker, blocked = int(data["blocker_id"]), int(data["blocked_id"])
        return [InteractionChange(event_id, blocker, blocked, at, clear=True)] if blocker != blocked else []
    return []


def _publish_crossings(steps: Sequence[InteractionStep]) -> int:
    published = 0
    for step in steps:
        if crossed(step.before, step.after):
            publish(
                "relationship_weight.updated",
                key=step.from_id,
                data={"from_user_id": step.from_id, "to_user_id": step.to_id, "weight": step.after},
            )
            published += 1
    return published


def _user_ids_of(envelope: Envelope) -> set[int]:
    """Every user an event of :data:`EVENT_TYPES` names (pair, liker/commenter, author, mentioned)."""
    data = envelope.data
    fields = PAIR_FIELDS.get(envelope.type, ("user_id", "author_id"))
    ids = {int(data[name]) for name in fields if data.get(name) is not None}
    return ids | {int(m) for m in data.get("mention_ids") or ()}


def without_erased_users(events: Sequence[Envelope]) -> list[Envelope]:
    """``events`` without those naming an erased account (one query on the tombstones): an
    event still queued when the account was erased must not bring its node, edges or weights
    back (README "Account lifecycle")."""
    erased = erased_user_ids({uid for e in events for uid in _user_ids_of(e)})
    return [e for e in events if not (_user_ids_of(e) & erased)] if erased else list(events)


def projection_apply_events(*, events: Sequence[Envelope]) -> ProjectionResult:
    """Apply a batch of events to the graph projection (module docstring).

    Run it inside the task's transaction (``batch_task`` does): the published events and the ORM
    store's writes commit with the task's idempotency records; the suggestion cache bump runs
    after that commit.

    Args:
        events: the batch's new envelopes in delivery order; types outside :data:`EVENT_TYPES`
            are ignored.
    Returns:
        :class:`ProjectionResult`.
    Events:
        ``relationship_weight.updated`` ``{from_user_id, to_user_id, weight}`` (key
        ``from_user_id``) for each weight that crossed :data:`~graph.weights.WEIGHT_THRESHOLD`.
    Raises:
        Store errors (e.g. ``neo4j.exceptions.ServiceUnavailable``): the task retries the batch;
        what the store already applied is recorded there and is not applied twice.
    """
    events = without_erased_users(events)
    store = get_graph_store()
    pairs = {
        selectors.pair(int(e.data[PAIR_FIELDS[e.type][0]]), int(e.data[PAIR_FIELDS[e.type][1]]))
        for e in events if e.type in PAIR_FIELDS
    }
    pairs = {(low, high) for low, high in pairs if low != high}
    if pairs:
        present = selectors.friendships_among(pairs)
        store.set_friendships({pair: pair in present for pair in pairs})
    changes = [change for envelope in events for change in interaction_changes(envelope)]
    steps = store.apply_interactions(changes) if changes else []
    published = _publish_crossings(steps)
    affected: set[int] = set()
    if pairs:
        users = {uid for pair in pairs for uid in pair}
        affected = users | {f for friends in selectors.friend_ids_by_user(users).values() for f in friends}
        transaction.on_commit(lambda: suggestion_versions_bump(affected))
    logger.debug("graph: %d event(s) → %d pair(s), %d step(s), %d published",
                 len(events), len(pairs), len(steps), published)
    return ProjectionResult(friendships=len(pairs), steps=len(steps), published=published,
                            suggestion_users=len(affected))
