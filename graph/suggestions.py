"""Friend suggestions: the graph store's friends-of-friends, filtered by PostgreSQL.

The store ranks candidates (see :mod:`graph.stores.base` for the score); PostgreSQL, the source
of truth, decides who may be shown: never a friend, never someone with a pending request either
way, never someone blocked either way, never an inactive user.

**Cache.** The store's ranked list (ids, mutual counts, scores — no user data) is cached in the
Django cache for :data:`CACHE_SECONDS` (60 s) under ``graph:suggestions:<user id>:<limit>``.
The PostgreSQL filter runs on every request, *after* the cache, so a block, a new friendship
or a request hides a user at once; what can be up to 60 s stale is only the ranking (a new
friend-of-friend appears, or a score changes, within a minute). Nothing invalidates the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Q

from bellamy import metrics
from graph.models import FriendRequest
from graph.selectors import blocked_ids, friend_ids
from graph.stores import get_graph_store

#: Seconds a user's ranked suggestion list stays cached.
CACHE_SECONDS = 60
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


def cache_key(user_id: int, limit: int) -> str:
    """The cache key of ``user_id``'s ranked list of length ``limit``."""
    return f"graph:suggestions:{user_id}:{limit}"


def ranked_candidates(user_id: int, *, limit: int) -> list[tuple[int, int, float]]:
    """The store's ranked ``[(user_id, mutual_friends, score)]`` for ``user_id``, cached 60 s."""
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


def suggestions_for(user_id: int, *, limit: int = DEFAULT_LIMIT) -> list[SuggestedUser]:
    """Friend suggestions for ``user_id``, best first.

    Args:
        limit: 1..:data:`MAX_LIMIT` (validated by the caller).
    Returns:
        At most ``limit`` :class:`SuggestedUser`, in the store's order (score desc, mutual desc,
        id asc), restricted to active users who are not friends, not blocked either way and
        have no pending request either way — checked in PostgreSQL on every call (one query for
        the users, plus two for the exclusions when the ranked list is not cached).
    """
    ranked = ranked_candidates(user_id, limit=limit)
    if not ranked:
        return []
    pending = FriendRequest.objects.filter(status=FriendRequest.Status.PENDING)
    users = (
        get_user_model().objects.filter(id__in=[uid for uid, _m, _s in ranked], is_active=True)
        .exclude(id__in=friend_ids(user_id))
        .exclude(id__in=blocked_ids(user_id))
        .exclude(id__in=pending.filter(to_user_id=user_id).values("from_user_id"))
        .exclude(id__in=pending.filter(from_user_id=user_id).values("to_user_id"))
    )
    by_id = {user.id: user for user in users}
    return [SuggestedUser(by_id[uid], mutual, score) for uid, mutual, score in ranked if uid in by_id]
