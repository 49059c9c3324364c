"""Reads of the ``notifications`` domain: pages of a user's notifications, unread counts, the
API's notification objects, and who may be notified about a post.

Who can see a post is decided by :mod:`posts.selectors` only (the one place of visibility
rules: ``visible_to_members`` applies ``visible_posts``' rules to many pairs at once); friends
and blocks come from :mod:`graph.selectors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib.auth import get_user_model
from django.db.models import BooleanField, ExpressionWrapper, Q
from rest_framework.fields import DateTimeField

from bellamy.accounts.api.serializers import UserSerializer
from graph import selectors as graph_selectors
from notifications.stores import get_notification_store
from notifications.stores.base import NotificationRecord
from posts import selectors as post_selectors


def notifications_page(
    *, user_id: int, cursor: str | None = None, limit: int = 20, unread_only: bool = False
) -> tuple[list[NotificationRecord], str | None]:
    """One page of ``user_id``'s notifications, newest first (``NotificationStore.list_for``).

    Raises:
        notifications.stores.base.InvalidCursor: bad ``cursor``.
    """
    return get_notification_store().list_for(user_id, cursor=cursor, limit=limit, unread_only=unread_only)


def unread_count(*, user_id: int) -> int:
    """How many of ``user_id``'s notifications are unread."""
    return get_notification_store().unread_count(user_id)


def notification_objects(
    records: Sequence[NotificationRecord], *, viewer_id: int | None = None, hide_gone: bool = False
) -> list[dict]:
    """The API's notification objects for ``records`` (API.md "Notification object")::

        {id: str, type, actors: [user object], actor_count, post_id, comment_id,
         created_at: RFC 3339, read: bool}

    Actors are loaded in ONE query for all records (whatever their number), in each record's
    order; actors that no longer exist or are inactive (suspended, deactivated, erased) are left
    out and no longer counted in ``actor_count``, and users blocked either way with
    ``viewer_id`` (when given) are left out.

    Args:
        hide_gone: leave out the records none of whose actors is an active account any more
            (the list API: "someone liked your post" with nobody to show); the result is then
            shorter than ``records``.
    """
    wanted = {actor for record in records for actor in record.actors}
    users: dict[int, dict] = {}
    active: set[int] = set()
    if wanted:
        queryset = get_user_model().objects.filter(id__in=wanted, is_active=True)
        if viewer_id is not None:
            queryset = queryset.annotate(
                blocked=ExpressionWrapper(Q(id__in=graph_selectors.blocked_ids(viewer_id)), output_field=BooleanField())
            )
        for user in queryset:
            active.add(user.pk)
            if not getattr(user, "blocked", False):
                users[user.pk] = UserSerializer(user).data
    as_text = DateTimeField().to_representation
    objects = []
    for record in records:
        gone = sum(1 for actor in record.actors if actor not in active)
        if hide_gone and gone == len(record.actors):
            continue
        objects.append({
            "id": record.id,
            "type": record.type,
            "actors": [users[actor] for actor in record.actors if actor in users],
            "actor_count": max(record.actor_count - gone, 0),
            "post_id": record.post_id,
            "comment_id": record.comment_id,
            "created_at": as_text(record.created_at),
            "read": record.read,
        })
    return objects


def visible_pairs(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """The ``(user id, post id)`` pairs of ``pairs`` where the user, as an ordinary member (never
    a moderator: moderator rights never cause a notification about a hidden post), may see the
    post, in a constant number of queries (``posts.selectors.visible_to_members``, the rules of
    ``visible_posts``)."""
    return post_selectors.visible_to_members(pairs)
