"""Reads of the ``notifications`` domain: pages of a user's notifications, unread counts, the
API's notification objects, and who may be notified about a post.

Who can see a post is decided by :func:`posts.selectors.visible_posts` only (the one place of
visibility rules); friends and blocks come from :mod:`graph.selectors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from django.contrib.auth import get_user_model
from django.db.models import BooleanField, ExpressionWrapper, Q
from rest_framework.fields import DateTimeField

from bellamy.accounts.api.serializers import UserSerializer
from graph import selectors as graph_selectors
from notifications.stores import get_notification_store
from notifications.stores.base import NotificationRecord
from posts import selectors as post_selectors

#: Recipients per bulk write of a fan-out.
FANOUT_BATCH_SIZE = 1000


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


def _member(user_id: int):
    """An unsaved active, non-staff user with id ``user_id``: what ``visible_posts`` sees as an
    ordinary member (moderator rights never cause a notification about a hidden post)."""
    return get_user_model()(pk=user_id, is_active=True, is_staff=False, is_superuser=False)


def can_see_post(user_id: int, post_id: int) -> bool:
    """True when user ``user_id``, as an ordinary member, may see post ``post_id``
    (``posts.selectors.visible_posts``; one query)."""
    return post_selectors.visible_posts(_member(user_id), details=False).filter(pk=post_id).exists()


def users_who_can_see_post(post_id: int, user_ids: Iterable[int], *, actor_id: int) -> list[int]:
    """Filter ``user_ids`` to the active users who may see post ``post_id``, are not
    ``actor_id`` and are not blocked either way with ``actor_id``.

    For short lists (mentions): one query for the candidates, then one ``visible_posts``
    query per candidate. Returns ids in input order, without repeats.
    """
    ids = [uid for uid in dict.fromkeys(user_ids) if isinstance(uid, int) and uid != actor_id]
    if not ids:
        return []
    allowed = set(
        get_user_model()
        .objects.filter(id__in=ids, is_active=True)
        .exclude(id__in=graph_selectors.blocked_ids(actor_id))
        .values_list("id", flat=True)
    )
    return [uid for uid in ids if uid in allowed and can_see_post(uid, post_id)]


def friends_who_can_see_post(
    post_id: int, author_id: int, *, exclude: Iterable[int] = (), batch_size: int = FANOUT_BATCH_SIZE
) -> Iterator[list[int]]:
    """Yield, in batches of ``batch_size`` ids (ascending), the active friends of
    ``author_id`` who may see post ``post_id``, minus ``exclude``.

    Friends blocked either way with the author are excluded in SQL (``graph.selectors``). For
    the others ``visible_posts`` gives the same answer for every one of them — its rules depend
    on the viewer only through being the author, a moderator, a friend, or blocked — so ONE
    ``visible_posts`` check as an ordinary member for the first friend decides for all, and
    each batch costs one keyset query. Nothing is yielded when the post is private, deleted or
    moderated.
    """
    excluded = set(exclude) | {author_id}
    friends = (
        get_user_model()
        .objects.filter(id__in=graph_selectors.friend_ids(author_id), is_active=True)
        .exclude(id__in=graph_selectors.blocked_ids(author_id))
        .order_by("id")
        .values_list("id", flat=True)
    )
    last = 0
    checked = False
    while True:
        batch = list(friends.filter(id__gt=last)[:batch_size])
        if not batch:
            return
        last = batch[-1]
        if not checked:
            if not can_see_post(batch[0], post_id):
                return
            checked = True
        batch = [uid for uid in batch if uid not in excluded]
        if batch:
            yield batch
