"""Writes of the ``notifications`` domain: what each event notifies, marking read, expiry.

Rules for every event (ARCHITECTURE.md §5): the actor is never notified about their own
action, nor is a user blocked either way with the actor, nor anyone who cannot see the post
(``posts.selectors.visible_posts`` through :mod:`notifications.selectors`). The worker hands a
whole batch of events to :func:`notifications_apply_events`, which writes in bulk. Every write is
idempotent per ``(event id, recipient)``. After storing, each new notification, and each grouped
one a new actor joined, is pushed to its recipient's open sockets (``{"type":
"notification.created", "data": <notification object>}``) once the surrounding transaction
commits — one push call per batch. A friend's new post reaches each online friend as that one
frame (``friend_posted``, or ``mentioned`` for a mentioned friend; README "Real time").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from bellamy import metrics
from bellamy.events.envelope import Envelope
from bellamy.realtime.presence import get_presence
from bellamy.realtime.services import push_messages
from graph import selectors as graph_selectors
from notifications import selectors
from notifications.stores import get_notification_store
from notifications.stores.base import (
    DEFAULT_RETENTION_DAYS,
    EXPORT_READY,
    FRIEND_ACCEPTED,
    FRIEND_POSTED,
    FRIEND_REQUEST,
    MENTIONED,
    POST_COMMENTED,
    POST_LIKED,
    NewNotification,
    NotificationRecord,
    group_key_for,
)

logger = logging.getLogger(__name__)

PUSH_TYPE = "notification.created"


def _push_on_commit(records: Sequence[NotificationRecord]) -> None:
    """After commit, push each record to its recipient if online, in ONE
    :func:`bellamy.realtime.services.push_messages` call grouped per recipient (one presence
    round trip; actors of the online recipients' notifications resolved in one query)."""
    if not records:
        return
    records = list(records)

    def push() -> None:
        # Objects are built only for online recipients; offline ones cost the presence lookup.
        online = get_presence().online({record.recipient_id for record in records})
        pending = sorted((r for r in records if r.recipient_id in online), key=lambda r: r.recipient_id)
        metrics.push_offline(PUSH_TYPE, len(records) - len(pending))
        if pending:
            push_messages(
                (record.recipient_id, {"type": PUSH_TYPE, "data": data})
                for record, data in zip(pending, selectors.notification_objects(pending), strict=True)
            )

    transaction.on_commit(push)


def _allowed(notifications: Sequence[NewNotification]) -> list[NewNotification]:
    """``notifications`` without those whose actor is not an active account or whose recipient
    was erased (one query): an event still queued when an account went away must not notify
    about it, nor write anything for it (README "Account lifecycle"). A deactivated recipient
    keeps receiving: the account may come back."""
    if not notifications:
        return []
    ids = {n.actor_id for n in notifications} | {n.recipient_id for n in notifications}
    rows = list(get_user_model().objects.filter(id__in=ids).values_list("id", "is_active", "erased_at"))
    active = {uid for uid, is_active, _ in rows if is_active}
    live = {uid for uid, _, erased_at in rows if erased_at is None}
    return [n for n in notifications if n.actor_id in active and n.recipient_id in live]


def _add(notifications: Sequence[NewNotification]) -> list[str]:
    """Store ``notifications`` (but not those :func:`_allowed` refuses) in one bulk write and
    push the new ones; return their ids."""
    notifications = _allowed(notifications)
    if not notifications:
        return []
    records = get_notification_store().add_many_records(notifications)
    _push_on_commit(records)
    return [record.id for record in records]


def _at(envelope: Envelope) -> datetime:
    """The event time (``occurred_at``, RFC 3339) as an aware datetime."""
    return datetime.fromisoformat(envelope.occurred_at.replace("Z", "+00:00"))


def _user_ids(values: Iterable) -> list[int]:
    """The integer ids of ``values`` (garbage left out), without repeats, in order."""
    return [v for v in dict.fromkeys(values or ()) if isinstance(v, int) and not isinstance(v, bool)]


@dataclass(frozen=True)
class NotifyResult:
    """What :func:`notifications_apply_events` did: notifications stored (new, ungrouped),
    groups created or changed, notifications deleted, and how many of the stored or changed
    ones are pushed after commit (to their recipients if online)."""

    stored: int
    grouped: int
    deleted: int
    to_push: int


@dataclass
class _Lookups:
    """Everything the rules need for a batch, read in a constant number of queries."""

    blocked: dict[int, set[int]]
    friends: dict[int, set[int]]
    active: set[int]
    visible: set[tuple[int, int]]


def _lookups(events: Sequence[Envelope]) -> _Lookups:
    actors: set[int] = set()
    authors: set[int] = set()
    candidates: set[int] = set()
    for e in events:
        data = e.data
        if e.type == "friendship.requested":
            actors.add(data["from_user_id"])
        elif e.type == "friendship.accepted":
            actors.add(data["to_user_id"])
        elif e.type == "post.created":
            actors.add(data["author_id"])
            authors.add(data["author_id"])
            candidates.update(_user_ids(data.get("mention_ids")))
        elif e.type in ("post.liked", "comment.created"):
            actors.add(data["user_id"])
            candidates.update(_user_ids(data.get("mention_ids")))
    blocked = graph_selectors.blocked_ids_by_user(actors)
    friends = graph_selectors.active_friend_ids_by_user(authors)
    active = set(
        get_user_model().objects.filter(id__in=candidates, is_active=True).values_list("id", flat=True)
    ) if candidates else set()
    lookups = _Lookups(blocked=blocked, friends=friends, active=active, visible=set())
    pairs: set[tuple[int, int]] = set()
    for e in events:
        data = e.data
        if e.type == "post.created":
            author, post = data["author_id"], data["post_id"]
            pairs.update((m, post) for m in _mention_candidates(lookups, data.get("mention_ids"), actor=author))
            eligible = _eligible_friends(lookups, author)
            if eligible:
                pairs.add((min(eligible), post))
        elif e.type in ("post.liked", "comment.created"):
            author, actor, post = data["author_id"], data["user_id"], data["post_id"]
            if actor != author and author not in blocked.get(actor, ()):
                pairs.add((author, post))
            if e.type == "comment.created":
                mentioned = [m for m in _user_ids(data.get("mention_ids")) if m != author]
                pairs.update((m, post) for m in _mention_candidates(lookups, mentioned, actor=actor))
        elif e.type == "post.moderated":
            pairs.add((data["author_id"], data["post_id"]))
    lookups.visible = selectors.visible_pairs(pairs) if pairs else set()
    return lookups


def _mention_candidates(lookups: _Lookups, mention_ids, *, actor: int) -> list[int]:
    """Mentioned users who may be notified if they can see the post: active, not the actor,
    not blocked either way with the actor (input order, no repeats)."""
    blocked = lookups.blocked.get(actor, set())
    return [m for m in _user_ids(mention_ids) if m != actor and m in lookups.active and m not in blocked]


def _eligible_friends(lookups: _Lookups, author: int) -> list[int]:
    """The author's active friends not blocked either way with the author, ascending."""
    blocked = lookups.blocked.get(author, set())
    return sorted(f for f in lookups.friends.get(author, ()) if f not in blocked and f != author)


def notifications_apply_events(*, events: Sequence[Envelope]) -> NotifyResult:
    """Store, group, delete and push the notifications of a batch of events, in bulk.

    Rules per event (module docstring for the never-notify rules; "can see" is
    ``posts.selectors.visible_posts`` as an ordinary member):

    ========================= ==================================================================
    ``friendship.requested``  ``friend_request`` to ``to_user_id`` (actor ``from_user_id``)
    ``friendship.accepted``   ``friend_accepted`` to ``from_user_id`` (actor ``to_user_id``)
    ``post.created``          ``mentioned`` to each mentioned user who can see the post, then
                              ``friend_posted`` to every other active friend of the author who
                              can see it (friends see it alike, so one check decides for all)
    ``post.liked``            the liker joins the author's grouped ``post_liked`` of that post
                              and hour, if the author can still see the post
    ``comment.created``       the commenter joins the author's grouped ``post_commented``;
                              ``mentioned`` to each mentioned user (not the post author) who can
                              see the post
    ``post.deleted``          every notification about the post is deleted
    ``post.moderated``        deleted too unless the author can see the post again
    ========================= ==================================================================

    Cost per batch, whatever its size: one query each for the blocks of every actor, the active
    friends of every author, the active mentioned users and who can see which post (one
    ``UNION ALL`` statement); then ONE bulk write of every new notification of the batch
    (``insert_many`` / ``bulk_create``), one read and one bulk write of the grouped ones, one
    delete; after commit ONE push call with a message per new or changed notification, grouped
    per recipient. A repeat by an actor already in a group is recorded but not pushed
    (``notifications.stores.base`` "Grouping").

    Events are evaluated against the current state of the database, so a post deleted later in
    the same batch notifies nobody, and deletions run after the writes.

    Args:
        events: the batch's new envelopes in delivery order (other types are ignored).
    Returns:
        :class:`NotifyResult`.
    """
    lookups = _lookups(events)
    visible, blocked = lookups.visible, lookups.blocked
    adds: list[NewNotification] = []
    grouped: list[tuple[NewNotification, str]] = []
    deletes: set[int] = set()
    for e in events:
        data, at = e.data, _at(e)
        if e.type in ("friendship.requested", "friendship.accepted"):
            sender, receiver = data["from_user_id"], data["to_user_id"]
            actor, recipient, kind = ((sender, receiver, FRIEND_REQUEST) if e.type == "friendship.requested"
                                      else (receiver, sender, FRIEND_ACCEPTED))
            if recipient != actor and recipient not in blocked.get(actor, ()):
                adds.append(NewNotification(recipient, kind, e.id, actor, at))
        elif e.type == "post.created":
            author, post = data["author_id"], data["post_id"]
            mentioned = [m for m in _mention_candidates(lookups, data.get("mention_ids"), actor=author)
                         if (m, post) in visible]
            adds += [NewNotification(m, MENTIONED, e.id, author, at, post_id=post) for m in mentioned]
            eligible = _eligible_friends(lookups, author)
            if eligible and (eligible[0], post) in visible:
                skip = set(mentioned)
                adds += [NewNotification(f, FRIEND_POSTED, e.id, author, at, post_id=post)
                         for f in eligible if f not in skip]
        elif e.type in ("post.liked", "comment.created"):
            author, actor, post = data["author_id"], data["user_id"], data["post_id"]
            comment = data.get("comment_id")
            kind = POST_LIKED if e.type == "post.liked" else POST_COMMENTED
            if actor != author and author not in blocked.get(actor, ()) and (author, post) in visible:
                grouped.append((NewNotification(author, kind, e.id, actor, at, post_id=post, comment_id=comment),
                                group_key_for(kind, post, at)))
            if e.type == "comment.created":
                candidates = [m for m in _user_ids(data.get("mention_ids")) if m != author]
                adds += [NewNotification(m, MENTIONED, e.id, actor, at, post_id=post, comment_id=comment)
                         for m in _mention_candidates(lookups, candidates, actor=actor) if (m, post) in visible]
        elif e.type == "post.deleted":
            deletes.add(data["post_id"])
        elif e.type == "post.moderated" and (data["author_id"], data["post_id"]) not in visible:
            deletes.add(data["post_id"])
    # Queued events of accounts that went away write nothing (one query for the batch).
    permitted = {id(n) for n in _allowed([*adds, *(n for n, _ in grouped)])}
    adds = [n for n in adds if id(n) in permitted]
    grouped = [(n, key) for n, key in grouped if id(n) in permitted]
    store = get_notification_store()
    records = store.add_many_records(adds) if adds else []
    updates = store.group_add_many(grouped) if grouped else []
    deleted = store.delete_for_subjects(deletes) if deletes else 0
    to_push = [*records, *(update.record for update in updates if update.notify)]
    _push_on_commit(to_push)
    return NotifyResult(stored=len(records), grouped=len(updates), deleted=deleted, to_push=len(to_push))


def notification_mark_read(*, user_id: int, ids: list[str] | None = None, all: bool = False) -> int:
    """Mark ``user_id``'s notifications read: those in ``ids`` (other users' ids are ignored)
    or ``all`` of them.

    Returns:
        How many went from unread to read.
    Raises:
        ValueError: both or neither of ``ids`` and ``all``.
    """
    return get_notification_store().mark_read(user_id, ids=ids, all=all)


def retention() -> timedelta:
    """The retention period: ``BELLAMY_NOTIFICATION_RETENTION_DAYS`` days (default 90)."""
    return timedelta(days=getattr(settings, "BELLAMY_NOTIFICATION_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def notification_expire(*, older_than: datetime | None = None) -> int:
    """Delete notifications created before ``older_than`` (default: now − retention).

    Returns:
        How many were deleted.
    """
    cutoff = older_than if older_than is not None else timezone.now() - retention()
    deleted = get_notification_store().expire(cutoff)
    logger.info("expired %d notification(s) created before %s", deleted, cutoff.isoformat())
    return deleted


# --- account lifecycle (README "Account lifecycle") ------------------------------------------


def notification_export_ready(*, export_id: str, user_id: int, at: datetime) -> str | None:
    """The user's data export ``export_id`` is ready: notify them (type ``export_ready``, the
    user as actor, no post) and push it if they are online. Idempotent per export.

    Returns:
        The new notification's id, or ``None`` (already notified, or the account went inactive).
    """
    return next(iter(_add([NewNotification(user_id, EXPORT_READY, str(export_id), user_id, at)])), None)


def notifications_user_erase(*, user_ids: Sequence[int]) -> int:
    """``user.deleted``: forget the users in the notification store — what they received, what
    they alone acted in, and their place among the actors of grouped notifications
    (:meth:`NotificationStore.delete_user`).

    Returns:
        How many notifications were deleted.
    """
    store = get_notification_store()
    return sum(store.delete_user(int(user_id)) for user_id in sorted(set(user_ids)))


def notification_delete_for_posts(*, post_ids: Sequence[int]) -> int:
    """``user.content_erased``: delete every notification about the erased posts (e.g. someone
    mentioned in another user's comment on them), one store call for all.

    Returns:
        How many were deleted.
    """
    return get_notification_store().delete_for_subjects(post_ids)
