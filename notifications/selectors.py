"""Reads of the ``notifications`` domain: pages of a user's notifications, unread counts, the
API's notification objects, and who may be notified about a post.

Who can see a post is decided by :func:`posts.selectors.visible_posts` only (the one place of
visibility rules); friends and blocks come from :mod:`graph.selectors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib.auth import get_user_model
from django.db.models import BigIntegerField, Value
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


def notification_objects(records: Sequence[NotificationRecord], *, viewer_id: int | None = None) -> list[dict]:
    """The API's notification objects for ``records`` (API.md "Notification object")::

        {id: str, type, actors: [user object], actor_count, post_id, comment_id,
         created_at: RFC 3339, read: bool}

    Actors are loaded in ONE query for all records (whatever their number), in each record's
    order; actors that no longer exist or are inactive are left out, and so are users blocked
    either way with ``viewer_id`` when given.
    """
    wanted = {actor for record in records for actor in record.actors}
    users = {}
    if wanted:
        queryset = get_user_model().objects.filter(id__in=wanted, is_active=True)
        if viewer_id is not None:
            queryset = queryset.exclude(id__in=graph_selectors.blocked_ids(viewer_id))
        users = {user.pk: UserSerializer(user).data for user in queryset}
    as_text = DateTimeField().to_representation
    return [
        {
            "id": record.id,
            "type": record.type,
            "actors": [users[actor] for actor in record.actors if actor in users],
            "actor_count": record.actor_count,
            "post_id": record.post_id,
            "comment_id": record.comment_id,
            "created_at": as_text(record.created_at),
            "read": record.read,
        }
        for record in records
    ]


def _member(user_id: int):
    """An unsaved active, non-staff user with id ``user_id``: what ``visible_posts`` sees as an
    ordinary member (moderator rights never cause a notification about a hidden post)."""
    return get_user_model()(pk=user_id, is_active=True, is_staff=False, is_superuser=False)


def can_see_post(user_id: int, post_id: int) -> bool:
    """True when user ``user_id``, as an ordinary member, may see post ``post_id``
    (``posts.selectors.visible_posts``; one query)."""
    return post_selectors.visible_posts(_member(user_id), details=False).filter(pk=post_id).exists()


#: Viewers per ``UNION ALL`` statement of :func:`visible_pairs` (SQLite allows 500 terms).
VISIBLE_PAIRS_CHUNK = 400


def visible_pairs(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """The ``(user id, post id)`` pairs of ``pairs`` where the user, as an ordinary member, may
    see the post — :func:`can_see_post` for many pairs at once.

    One statement for up to :data:`VISIBLE_PAIRS_CHUNK` distinct users: a ``UNION ALL`` of one
    ``posts.selectors.visible_posts`` subquery per user (so the rules stay in that one place),
    each restricted to that user's posts of ``pairs``.
    """
    wanted: dict[int, set[int]] = {}
    for user_id, post_id in pairs:
        wanted.setdefault(int(user_id), set()).add(int(post_id))
    found: set[tuple[int, int]] = set()
    viewers = sorted(wanted)
    for start in range(0, len(viewers), VISIBLE_PAIRS_CHUNK):
        parts = [
            post_selectors.visible_posts(_member(viewer), details=False)
            .filter(pk__in=sorted(wanted[viewer]))
            .annotate(viewer=Value(viewer, output_field=BigIntegerField()))
            .values_list("viewer", "id")
            .order_by()
            for viewer in viewers[start:start + VISIBLE_PAIRS_CHUNK]
        ]
        query = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        found.update((int(viewer), int(post_id)) for viewer, post_id in query)
    return found
