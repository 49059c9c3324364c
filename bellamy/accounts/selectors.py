"""Reads of accounts: profiles as seen by a viewer, and user search.

Blocks hide both ways (API.md): a user who blocked the viewer does not exist for the viewer.
The relationship facts come from :mod:`graph.selectors`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from graph import selectors as graph_selectors

User = get_user_model()

#: Longest accepted search prefix, in characters.
SEARCH_MAX_LENGTH = 50


@dataclass(frozen=True)
class Profile:
    """A user as seen by a viewer: the user, their friend count and the viewer's relation."""

    user: User
    friends_count: int
    friendship_status: str


def active_user(user_id: int) -> User | None:
    """Return the active user ``user_id``, or None (unknown or suspended)."""
    return User.objects.filter(id=user_id, is_active=True).first()


def visible_user(*, viewer_id: int, user_id: int) -> User | None:
    """Return user ``user_id`` if the viewer may see them, else None.

    Hidden: unknown and inactive users, and users who blocked the viewer. A user the *viewer*
    blocked stays visible (so the viewer can find them and unblock).
    """
    user = active_user(user_id)
    if user is None or (user.id != viewer_id and graph_selectors.has_blocked(user.id, viewer_id)):
        return None
    return user


def user_profile(*, viewer_id: int, user_id: int) -> Profile | None:
    """Return the profile of ``user_id`` as seen by ``viewer_id``, or None when hidden.

    Hidden (None → the API answers 404): unknown or inactive users and users who blocked the
    viewer. A user the viewer blocked is returned with ``friendship_status="blocked"``.

    Returns:
        :class:`Profile`; ``friendship_status`` ∈ ``self, friends, request_sent,
        request_received, none, blocked`` (see :func:`graph.selectors.friendship_status`).
    """
    user = visible_user(viewer_id=viewer_id, user_id=user_id)
    if user is None:
        return None
    return Profile(
        user=user,
        friends_count=graph_selectors.friends_count(user.id),
        friendship_status=graph_selectors.friendship_status(viewer_id, user.id),
    )


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
        User.objects.annotate(username_lower=Lower("username"), display_lower=Lower("display_name"))
        .filter(Q(username_lower__startswith=needle) | Q(display_lower__startswith=needle), is_active=True)
        .exclude(id__in=graph_selectors.blocked_ids(viewer_id))
    )
