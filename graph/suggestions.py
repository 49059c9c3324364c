"""Friend suggestions: the graph store's friends-of-friends, filtered by PostgreSQL.

The store ranks candidates (see :mod:`graph.stores.base` for the score); PostgreSQL, the source
of truth, decides who may be shown: never a friend, never someone with a pending request either
way, never someone blocked either way, never an inactive user.

**Cache.** The store's ranked list (ids, mutual counts, scores — no user data) is cached in the
Django cache for :data:`CACHE_SECONDS` (60 s) under ``graph:suggestions:<user id>:<version>:<size>``.
The version token (``graph:suggestions:ver:<user id>``) is replaced by the graph worker right
after it applied a friendship change (:func:`suggestion_versions_bump`, one round trip for every
affected user: both users and the friends of each), so a new friend's friends show within seconds
of the worker running. What the 60 s may still hold back is a score moved by interaction weights
alone. The PostgreSQL filter runs on every request, *after* the cache, so a block, a new
friendship or a request hides a user at once.

**Exactly ``limit``.** Candidates the filter drops (an inactive user, a friendship or block the
projection does not have yet) would leave a page short, so the store is asked for more than
``limit`` (:func:`fetch_size`) and, while the page is still short and the store had more,
asked again for four times as many (at most :data:`MAX_FETCH`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Q

from bellamy import metrics
from bellamy.caching import cache_version, cache_versions_bump
from graph.models import FriendRequest
from graph.selectors import blocked_ids, friend_ids
from graph.stores import get_graph_store

#: Seconds a user's ranked suggestion list stays cached.
CACHE_SECONDS = 60
#: Seconds a version token lives (a missing token reads as a fresh version).
VERSION_TTL = 7 * 24 * 3600
#: Most candidates asked of the store for one request.
MAX_FETCH = 1000
#: Largest ``limit`` of ``GET /api/friends/suggestions``.
MAX_LIMIT = 50
#: Default ``limit``.
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class SuggestedUser:
    """A suggestion for the API: the ``user`` (a User instance), ``mutual_friends``, ``score``."""

    user: object
    mutual_friends: int
    score: float


def pending_request_user_ids(user_id: int) -> set[int]:
    """Ids of the users with a pending friend request to or from ``user_id`` (one query)."""
    rows = FriendRequest.objects.filter(
        Q(from_user_id=user_id) | Q(to_user_id=user_id), status=FriendRequest.Status.PENDING
    ).values_list("from_user_id", "to_user_id")
    return {other for pair in rows for other in pair if other != user_id}


def excluded_user_ids(user_id: int) -> set[int]:
    """Ids never suggested to ``user_id``: pending requests either way and blocks either way
    (two queries). Friends are excluded by the store itself."""
    return pending_request_user_ids(user_id) | set(blocked_ids(user_id))


def _version_key(user_id: int) -> str:
    return f"graph:suggestions:ver:{user_id}"


def suggestions_version(user_id: int) -> str:
    """``user_id``'s current suggestion version token (created on first use)."""
    return cache_version(_version_key(user_id), VERSION_TTL)


def suggestion_versions_bump(user_ids: Iterable[int]) -> list[int]:
    """Give each user a new suggestion version token in one round trip, so their cached ranked
    lists are never read again (they expire with :data:`CACHE_SECONDS`).

    Returns:
        The distinct user ids bumped, sorted.
    """
    ids = sorted(set(user_ids))
    cache_versions_bump((_version_key(uid) for uid in ids), VERSION_TTL)
    return ids


def cache_key(user_id: int, size: int) -> str:
    """The cache key of ``user_id``'s ranked list of (at most) ``size`` candidates, at the user's
    current version."""
    return f"graph:suggestions:{user_id}:{suggestions_version(user_id)}:{size}"


def fetch_size(limit: int) -> int:
    """How many candidates to ask the store for a page of ``limit``: twice as many plus 10
    (never more than :data:`MAX_FETCH`)."""
    return min(MAX_FETCH, 2 * limit + 10)


def ranked_candidates(user_id: int, *, limit: int) -> list[tuple[int, int, float]]:
    """The store's ranked ``[(user_id, mutual_friends, score)]`` for ``user_id`` (at most
    ``limit``), cached :data:`CACHE_SECONDS` at the user's version."""
    key = cache_key(user_id, limit)
    cached = cache.get(key)
    metrics.cache_lookup("suggestions", hit=cached is not None)
    if cached is not None:
        return cached
    ranked = [
        (s.user_id, s.mutual_friends, s.score)
        for s in get_graph_store().suggestions(user_id, limit, exclude=excluded_user_ids(user_id))
    ]
    cache.set(key, ranked, CACHE_SECONDS)
    return ranked


def _allowed(user_id: int, candidate_ids: list[int]) -> dict[int, object]:
    """``{id: User}`` of the candidates PostgreSQL allows to suggest to ``user_id`` (one query)."""
    pending = FriendRequest.objects.filter(status=FriendRequest.Status.PENDING)
    users = (
        get_user_model().objects.filter(id__in=candidate_ids, is_active=True)
        .exclude(id__in=friend_ids(user_id))
        .exclude(id__in=blocked_ids(user_id))
        .exclude(id__in=pending.filter(to_user_id=user_id).values("from_user_id"))
        .exclude(id__in=pending.filter(from_user_id=user_id).values("to_user_id"))
    )
    return {user.id: user for user in users}


def suggestions_for(user_id: int, *, limit: int = DEFAULT_LIMIT) -> list[SuggestedUser]:
    """Friend suggestions for ``user_id``, best first.

    Args:
        limit: 1..:data:`MAX_LIMIT` (validated by the caller).
    Returns:
        Exactly ``limit`` :class:`SuggestedUser` when that many eligible candidates exist (fewer
        only when the store has no more), in the store's order (score desc, mutual desc, id
        asc), restricted to active users who are not friends, not blocked either way and have
        no pending request either way — checked in PostgreSQL on every call (one query for the
        users per store round, plus two for the exclusions when the ranked list is not cached).
    """
    size = fetch_size(limit)
    while True:
        ranked = ranked_candidates(user_id, limit=size)
        if not ranked:
            return []
        by_id = _allowed(user_id, [uid for uid, _m, _s in ranked])
        chosen = [SuggestedUser(by_id[uid], mutual, score) for uid, mutual, score in ranked if uid in by_id]
        if len(chosen) >= limit or len(ranked) < size or size >= MAX_FETCH:
            return chosen[:limit]
        size = min(MAX_FETCH, size * 4)
