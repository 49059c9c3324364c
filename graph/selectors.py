"""Reads of the social graph (PostgreSQL source of truth).

Other apps (posts visibility, feed, notifications, workers) use these functions; they never
query :mod:`graph.models` directly. Functions returning a ``QuerySet`` of ids return one SQL
query that Django embeds as a subquery, e.g.
``Post.objects.filter(author_id__in=friend_ids(uid))`` runs as a single statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Case, Exists, F, Q, QuerySet, When
from django.db.models.functions import Lower

from bellamy.accounts.selectors import active_user
from graph.models import Block, FriendRequest, Friendship

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser

#: Values of :func:`friendship_status` (API.md ``friendship_status``).
STATUS_SELF = "self"
STATUS_FRIENDS = "friends"
STATUS_REQUEST_SENT = "request_sent"
STATUS_REQUEST_RECEIVED = "request_received"
STATUS_NONE = "none"
STATUS_BLOCKED = "blocked"

#: Longest accepted user-search prefix, in characters.
SEARCH_MAX_LENGTH = 50


def pair(a_id: int, b_id: int) -> tuple[int, int]:
    """Return ``(low, high)``: the canonical order of two user ids (as stored in Friendship)."""
    return (a_id, b_id) if a_id < b_id else (b_id, a_id)


def pair_key(a_id: int, b_id: int) -> str:
    """Return the event key of a pair of users: ``"<min id>:<max id>"``."""
    low, high = pair(a_id, b_id)
    return f"{low}:{high}"


def friend_ids(user_id: int) -> QuerySet:
    """Return the ids of ``user_id``'s friends.

    Args:
        user_id: a user id (an unknown id simply has no friends).
    Returns:
        A lazy flat ``values_list`` QuerySet of ints (one SQL query, no ordering), usable as a
        subquery: ``User.objects.filter(id__in=friend_ids(uid))``. Includes inactive friends;
        callers filter ``is_active`` where it matters.
    """
    return (
        Friendship.objects.filter(Q(user_low_id=user_id) | Q(user_high_id=user_id))
        .annotate(
            friend_id=Case(When(user_low_id=user_id, then=F("user_high_id")), default=F("user_low_id"))
        )
        .values_list("friend_id", flat=True)
        .order_by()
    )


def friend_ids_by_user(user_ids: Iterable[int]) -> dict[int, set[int]]:
    """Return ``{user id: ids of that user's friends}`` for every id of ``user_ids`` (one query,
    whatever their number; an id without friends maps to an empty set)."""
    ids = set(user_ids)
    result: dict[int, set[int]] = {uid: set() for uid in ids}
    if not ids:
        return result
    rows = Friendship.objects.filter(Q(user_low_id__in=ids) | Q(user_high_id__in=ids)).values_list(
        "user_low_id", "user_high_id"
    )
    for low, high in rows:
        if low in result:
            result[low].add(high)
        if high in result:
            result[high].add(low)
    return result


def active_friend_ids_by_user(user_ids: Iterable[int]) -> dict[int, set[int]]:
    """:func:`friend_ids_by_user` restricted to active friends (one query, joined with the users)."""
    ids = set(user_ids)
    result: dict[int, set[int]] = {uid: set() for uid in ids}
    if not ids:
        return result
    rows = Friendship.objects.filter(Q(user_low_id__in=ids) | Q(user_high_id__in=ids)).values_list(
        "user_low_id", "user_high_id", "user_low__is_active", "user_high__is_active"
    )
    for low, high, low_active, high_active in rows:
        if low in result and high_active:
            result[low].add(high)
        if high in result and low_active:
            result[high].add(low)
    return result


def blocked_ids_by_user(user_ids: Iterable[int]) -> dict[int, set[int]]:
    """Return ``{user id: ids of the users blocked by or blocking that user}`` for every id of
    ``user_ids`` (one query; blocks hide both ways, as :func:`blocked_ids`)."""
    ids = set(user_ids)
    result: dict[int, set[int]] = {uid: set() for uid in ids}
    if not ids:
        return result
    rows = Block.objects.filter(Q(blocker_id__in=ids) | Q(blocked_id__in=ids)).values_list("blocker_id", "blocked_id")
    for blocker, blocked in rows:
        if blocker in result:
            result[blocker].add(blocked)
        if blocked in result:
            result[blocked].add(blocker)
    return result


def friendships_among(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Return the pairs of ``pairs`` that are friends now, as canonical ``(low, high)`` tuples
    (one query, whatever the number of pairs; self pairs are never friends)."""
    wanted = {pair(a, b) for a, b in pairs if a != b}
    if not wanted:
        return set()
    # A superset by each side's ids (one indexed query), narrowed to the exact pairs here.
    rows = Friendship.objects.filter(
        user_low_id__in={low for low, _high in wanted}, user_high_id__in={high for _low, high in wanted}
    ).values_list("user_low_id", "user_high_id")
    return {row for row in rows if row in wanted}


def blocks_among(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Return the pairs of ``pairs`` blocked either way, as canonical ``(low, high)`` tuples (one
    query, whatever the number of pairs)."""
    wanted = {pair(a, b) for a, b in pairs if a != b}
    if not wanted:
        return set()
    users = {uid for p in wanted for uid in p}
    rows = Block.objects.filter(blocker_id__in=users, blocked_id__in=users).values_list("blocker_id", "blocked_id")
    return {pair(a, b) for a, b in rows} & wanted


def are_friends(a_id: int, b_id: int) -> bool:
    """Return True when users ``a_id`` and ``b_id`` are friends (False for ``a_id == b_id``)."""
    if a_id == b_id:
        return False
    low, high = pair(a_id, b_id)
    return Friendship.objects.filter(user_low_id=low, user_high_id=high).exists()


def blocked_ids(user_id: int) -> QuerySet:
    """Return the ids of the users ``user_id`` blocked **or** who blocked ``user_id``.

    Blocks hide both ways, so this is what every visibility filter excludes.

    Returns:
        A lazy flat ``values_list`` QuerySet of ints (one SQL query; an id may appear twice when
        both blocked each other), usable as a subquery:
        ``qs.exclude(author_id__in=blocked_ids(uid))``.
    """
    return (
        Block.objects.filter(Q(blocker_id=user_id) | Q(blocked_id=user_id))
        .annotate(
            other_id=Case(When(blocker_id=user_id, then=F("blocked_id")), default=F("blocker_id"))
        )
        .values_list("other_id", flat=True)
        .order_by()
    )


def is_blocked_either_way(a_id: int, b_id: int) -> bool:
    """Return True when ``a_id`` blocked ``b_id`` or ``b_id`` blocked ``a_id``."""
    return Block.objects.filter(
        Q(blocker_id=a_id, blocked_id=b_id) | Q(blocker_id=b_id, blocked_id=a_id)
    ).exists()


def pair_state(a_id: int, b_id: int) -> tuple[bool, bool, bool]:
    """Return ``(blocked, friends, pending)`` of users ``a_id`` and ``b_id`` in one query:
    a block either way, a friendship, a pending friend request in either direction."""
    low, high = pair(a_id, b_id)
    row = (
        get_user_model()
        .objects.filter(pk=a_id)
        .annotate(
            blocked=Exists(Block.objects.filter(
                Q(blocker_id=a_id, blocked_id=b_id) | Q(blocker_id=b_id, blocked_id=a_id))),
            friends=Exists(Friendship.objects.filter(user_low_id=low, user_high_id=high)),
            pending=Exists(FriendRequest.objects.filter(
                Q(from_user_id=a_id, to_user_id=b_id) | Q(from_user_id=b_id, to_user_id=a_id),
                status=FriendRequest.Status.PENDING)),
        )
        .values_list("blocked", "friends", "pending")
        .first()
    )
    return tuple(row) if row else (False, False, False)


def has_blocked(blocker_id: int, blocked_id: int) -> bool:
    """Return True when ``blocker_id`` blocked ``blocked_id`` (one direction only)."""
    return Block.objects.filter(blocker_id=blocker_id, blocked_id=blocked_id).exists()


def friendship_status(viewer_id: int, other_id: int) -> str:
    """Return how ``other_id`` relates to ``viewer_id``, as seen by the viewer.

    Returns:
        One of ``"self"`` (same user), ``"blocked"`` (a block exists either way — the profile
        API hides users who blocked the viewer before asking), ``"friends"``,
        ``"request_sent"`` (the viewer's request is pending), ``"request_received"`` (the
        other's request to the viewer is pending), ``"none"``. At most three queries.
    """
    if viewer_id == other_id:
        return STATUS_SELF
    if is_blocked_either_way(viewer_id, other_id):
        return STATUS_BLOCKED
    if are_friends(viewer_id, other_id):
        return STATUS_FRIENDS
    pending = (
        FriendRequest.objects.filter(
            Q(from_user_id=viewer_id, to_user_id=other_id) | Q(from_user_id=other_id, to_user_id=viewer_id),
            status=FriendRequest.Status.PENDING,
        )
        .values_list("from_user_id", flat=True)
        .first()
    )
    if pending is None:
        return STATUS_NONE
    return STATUS_REQUEST_SENT if pending == viewer_id else STATUS_REQUEST_RECEIVED


def friends_count(user_id: int) -> int:
    """Return how many active friends ``user_id`` has (suspended friends are not counted)."""
    return get_user_model().objects.filter(id__in=friend_ids(user_id), is_active=True).count()


def friends_of(user_id: int, *, viewer_id: int | None = None) -> QuerySet:
    """Return ``user_id``'s active friends as a User QuerySet (unordered; the API paginates it).

    Args:
        user_id: whose friends.
        viewer_id: when given, friends blocked either way by the viewer are left out.
    """
    users = get_user_model().objects.filter(id__in=friend_ids(user_id), is_active=True)
    if viewer_id is not None and viewer_id != user_id:
        users = users.exclude(id__in=blocked_ids(viewer_id))
    return users


def pending_requests(user_id: int, *, direction: str) -> QuerySet:
    """Return pending friend requests of ``user_id`` with both users joined (no N+1).

    Args:
        direction: ``"incoming"`` (sent to the user) or ``"outgoing"`` (sent by the user).
    Returns:
        A FriendRequest QuerySet (unordered; the API paginates newest first) whose other party is
        active.
    Raises:
        ValueError: ``direction`` is neither value.
    """
    requests = FriendRequest.objects.filter(status=FriendRequest.Status.PENDING).select_related(
        "from_user", "to_user"
    )
    if direction == "incoming":
        return requests.filter(to_user_id=user_id, from_user__is_active=True)
    if direction == "outgoing":
        return requests.filter(from_user_id=user_id, to_user__is_active=True)
    raise ValueError(f"direction must be 'incoming' or 'outgoing', not {direction!r}")


def blocks_made(user_id: int) -> QuerySet:
    """Return the Blocks ``user_id`` made, with the blocked users joined (unordered)."""
    return Block.objects.filter(blocker_id=user_id).select_related("blocked")


# --- users as a viewer sees them (profiles, search): blocks hide both ways (API.md) ----------


@dataclass(frozen=True)
class Profile:
    """A user as seen by a viewer: the user, their friend count and the viewer's relation."""

    user: AbstractUser
    friends_count: int
    friendship_status: str


def visible_user(*, viewer_id: int, user_id: int) -> AbstractUser | None:
    """Return user ``user_id`` if the viewer may see them, else None.

    Hidden: unknown and inactive users, and users who blocked the viewer. A user the *viewer*
    blocked stays visible (so the viewer can find them and unblock).
    """
    user = active_user(user_id)
    if user is None or (user.id != viewer_id and has_blocked(user.id, viewer_id)):
        return None
    return user


def user_profile(*, viewer_id: int, user_id: int) -> Profile | None:
    """Return the profile of ``user_id`` as seen by ``viewer_id``, or None when hidden.

    Hidden (None → the API answers 404): unknown or inactive users and users who blocked the
    viewer. A user the viewer blocked is returned with ``friendship_status="blocked"``.

    Returns:
        :class:`Profile`; ``friendship_status`` ∈ ``self, friends, request_sent,
        request_received, none, blocked`` (see :func:`friendship_status`).
    """
    user = visible_user(viewer_id=viewer_id, user_id=user_id)
    if user is None:
        return None
    return Profile(
        user=user,
        friends_count=friends_count(user.id),
        friendship_status=friendship_status(viewer_id, user.id),
    )


def searchable_users(*, viewer_id: int) -> QuerySet:
    """Return the users ``viewer_id`` may find by searching (this prefix search and full-text
    people search): active users, leaving out users blocked either way with the viewer (the
    viewer is included).

    Returns:
        An unordered User QuerySet (usable as a subquery: ``.values("pk")``).
    """
    return get_user_model().objects.filter(is_active=True).exclude(id__in=blocked_ids(viewer_id))


def user_search(*, viewer_id: int, prefix: str) -> QuerySet:
    """Return active users whose username or display name starts with ``prefix``
    (case-insensitive), leaving out users blocked either way with the viewer.

    Args:
        prefix: 1..``SEARCH_MAX_LENGTH`` characters (validated by the caller); ``%`` and ``_``
            match literally.
    Returns:
        An unordered User QuerySet (the API paginates it by username).
    """
    needle = prefix.lower()
    return (
        searchable_users(viewer_id=viewer_id)
        .annotate(username_lower=Lower("username"), display_lower=Lower("display_name"))
        .filter(Q(username_lower__startswith=needle) | Q(display_lower__startswith=needle))
    )


def friendships_of(user_id: int) -> QuerySet:
    """``user_id``'s friendships as ``(friend id, since)`` rows, oldest first (the data export).

    Returns:
        A lazy ``values_list`` QuerySet of ``(int, datetime)``; includes inactive friends.
    """
    return (
        Friendship.objects.filter(Q(user_low_id=user_id) | Q(user_high_id=user_id))
        .annotate(
            friend_id=Case(When(user_low_id=user_id, then=F("user_high_id")), default=F("user_low_id"))
        )
        .order_by("created_at", "id")
        .values_list("friend_id", "created_at")
    )
