"""The notification store contract (ARCHITECTURE.md §3, §5 "Notifications").

A store keeps notifications per recipient. Two backends implement it — ``orm`` (the embedded
default, a Django model) and ``mongo`` (pymongo, one collection) — and one contract test suite
(``tests/notifications/test_store_contract.py``) runs against both, so every method returns the
same values on both (only the ``id`` strings differ: an integer primary key as text in the ORM,
an ObjectId hex string in MongoDB).

Shapes
------
- :class:`NewNotification` — what a worker adds: one recipient, one actor, one event.
- :class:`NotificationRecord` — what the store returns: the stored notification, with its
  ``actors`` (most recent first), ``actor_count`` and ``event_ids`` (every event applied).
- Times are timezone-aware UTC ``datetime`` values truncated to whole milliseconds (MongoDB's
  precision), on write and therefore on read, in both backends.

Uniqueness and idempotency
--------------------------
- One notification per ``(event_id, recipient_id)``: :meth:`NotificationStore.add_many` of an
  event already stored for that recipient adds nothing.
- Grouped notifications (likes and comments on one post) are one per ``(group_key,
  recipient_id)``; each remembers the event ids applied to it, so a replayed event changes
  nothing (:meth:`NotificationStore.group_add` returns ``None``).

Grouping (like Mastodon's grouped notifications)
------------------------------------------------
Several ``post_liked`` (or ``post_commented``) events on one post whose times fall in the same
UTC hour become ONE notification per recipient: ``group_key = f"{type}:{post_id}:{hour
bucket}"`` where the hour bucket is the event time floored to the hour, formatted
``YYYYMMDDTHH`` (:func:`group_key_for`). The window therefore opens with the first actor of
that clock hour and closes at the end of it; the next like after that starts a new group. Each
new actor goes to the front of ``actors`` (distinct ids, at most :data:`MAX_GROUP_ACTORS` kept),
``actor_count`` counts distinct actors, and the notification becomes unread again and moves to
the top of the list (``updated_at`` = the newest event's time).

A **repeat** — an event of an actor already among the kept ids (a like toggled off and on, a
second comment in the hour) — is recorded in ``event_ids`` (so its replay stays a no-op) and a
comment's id becomes the group's latest ``comment_id``, but nothing else the recipient sees
changes: same actors in the same order, same ``updated_at`` and place in the list, same read
state, and the worker does not push it again (:class:`GroupUpdate` ``new_actors == 0``). However
often one user toggles, a group is pushed at most once per actor joining it. An actor who
dropped out of the kept ids and acts again is counted again (the store does not keep every
actor ever seen).

Listing order and cursors
-------------------------
Newest first by ``(updated_at desc, id desc)``. The cursor is an opaque URL-safe string
encoding the ``(updated_at, id)`` of the last item of a page (:func:`encode_cursor`); a cursor
that cannot be decoded raises :class:`InvalidCursor`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: Notification types (API.md "Notification object").
FRIEND_REQUEST = "friend_request"
FRIEND_ACCEPTED = "friend_accepted"
FRIEND_POSTED = "friend_posted"
POST_LIKED = "post_liked"
POST_COMMENTED = "post_commented"
MENTIONED = "mentioned"
#: The user's data export is ready to download (README "Account lifecycle"): the actor is the
#: user who asked for it, ``post_id`` and ``comment_id`` are null; ``GET /api/users/me/export``
#: gives the download link.
EXPORT_READY = "export_ready"
TYPES = (FRIEND_REQUEST, FRIEND_ACCEPTED, FRIEND_POSTED, POST_LIKED, POST_COMMENTED, MENTIONED, EXPORT_READY)
#: The types that :meth:`NotificationStore.group_add` groups per post and hour.
GROUPED_TYPES = (POST_LIKED, POST_COMMENTED)

#: How many actor ids a grouped notification keeps (most recent first).
MAX_GROUP_ACTORS = 10
#: Default retention (days) when ``BELLAMY_NOTIFICATION_RETENTION_DAYS`` is not set.
DEFAULT_RETENTION_DAYS = 90


class InvalidCursor(ValueError):
    """A ``cursor`` given to :meth:`NotificationStore.list_for` that this store cannot decode."""


def normalize_time(moment: datetime) -> datetime:
    """Return ``moment`` in UTC truncated to whole milliseconds (what both backends store).

    Raises:
        ValueError: ``moment`` is naive.
    """
    if moment.tzinfo is None:
        raise ValueError("notification times must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def hour_bucket(moment: datetime) -> str:
    """The UTC hour of ``moment`` as ``YYYYMMDDTHH`` (e.g. ``"20250301T14"``)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H")


def group_key_for(notification_type: str, post_id: int, moment: datetime) -> str:
    """Return the group key of a grouped event: ``f"{type}:{post_id}:{hour bucket}"``.

    Example: ``group_key_for("post_liked", 7, datetime(2025, 3, 1, 14, 59, tzinfo=UTC))``
    → ``"post_liked:7:20250301T14"``.
    """
    return f"{notification_type}:{post_id}:{hour_bucket(moment)}"


@dataclass(frozen=True)
class NewNotification:
    """A notification to add: one event, one recipient, one actor.

    Attributes:
        recipient_id: user id of who is notified.
        type: one of :data:`TYPES`.
        event_id: the event's envelope id (uuid string); unique per recipient.
        actor_id: user id of who acted.
        created_at: aware datetime of the event (stored truncated to milliseconds).
        post_id: the post concerned, if any.
        comment_id: the comment concerned, if any.
    """

    recipient_id: int
    type: str
    event_id: str
    actor_id: int
    created_at: datetime
    post_id: int | None = None
    comment_id: int | None = None


@dataclass(frozen=True)
class NotificationRecord:
    """A stored notification, as every store method returns it.

    Attributes:
        id: the store's id as a string.
        recipient_id, type, post_id, comment_id: as added.
        actors: actor user ids, most recent first (one for ungrouped, up to
            :data:`MAX_GROUP_ACTORS` for grouped notifications).
        actor_count: distinct actors (1 unless grouped).
        group_key: :func:`group_key_for` value, or ``None`` when not grouped.
        event_id: the first event's id.
        event_ids: every event id applied, oldest first.
        created_at: time of the first event; updated_at: time of the latest event.
        read_at: when it was marked read, or ``None`` when unread.
    """

    id: str
    recipient_id: int
    type: str
    actors: tuple[int, ...]
    actor_count: int
    post_id: int | None
    comment_id: int | None
    group_key: str | None
    event_id: str
    event_ids: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    read_at: datetime | None = field(default=None)

    @property
    def read(self) -> bool:
        """True once marked read (and until a new grouped event makes it unread again)."""
        return self.read_at is not None

    def without_id(self) -> NotificationRecord:
        """The same record with ``id=""`` (to compare backends, whose ids differ)."""
        return dataclasses.replace(self, id="")


def record_from_new(notification: NewNotification, *, id: str, group_key: str | None = None) -> NotificationRecord:
    """The record a store holds right after adding ``notification`` (unread, one actor)."""
    moment = normalize_time(notification.created_at)
    return NotificationRecord(
        id=id,
        recipient_id=notification.recipient_id,
        type=notification.type,
        actors=(notification.actor_id,),
        actor_count=1,
        post_id=notification.post_id,
        comment_id=notification.comment_id,
        group_key=group_key,
        event_id=notification.event_id,
        event_ids=(notification.event_id,),
        created_at=moment,
        updated_at=moment,
        read_at=None,
    )


@dataclass(frozen=True)
class GroupChange:
    """The fields a grouped notification takes when one more event is applied
    (see :func:`merge_into_group`); ``new_actor`` is False for a repeat (module docstring)."""

    actors: tuple[int, ...]
    actor_count: int
    comment_id: int | None
    event_ids: tuple[str, ...]
    updated_at: datetime
    read_at: datetime | None
    new_actor: bool


def merge_into_group(record: NotificationRecord, notification: NewNotification) -> GroupChange | None:
    """Apply one more event to grouped ``record`` (the grouping rules of this module).

    Shared by both backends, so they compute identical groups.

    Returns:
        The new field values — a new actor joins at the front, ``read_at`` becomes ``None``; a
        repeat only records the event (and the latest comment) — or ``None`` when the event was
        already applied (a replay: nothing changes).
    """
    if notification.event_id in record.event_ids:
        return None
    actor = notification.actor_id
    moment = normalize_time(notification.created_at)
    newest = moment >= record.updated_at
    comment_id = notification.comment_id if newest and notification.comment_id is not None else record.comment_id
    event_ids = (*record.event_ids, notification.event_id)
    if actor in record.actors:
        return GroupChange(actors=record.actors, actor_count=record.actor_count, comment_id=comment_id,
                           event_ids=event_ids, updated_at=record.updated_at, read_at=record.read_at,
                           new_actor=False)
    return GroupChange(
        actors=(actor, *record.actors)[:MAX_GROUP_ACTORS],
        actor_count=record.actor_count + 1,
        comment_id=comment_id,
        event_ids=event_ids,
        updated_at=max(record.updated_at, moment),
        read_at=None,
        new_actor=True,
    )


def apply_change(record: NotificationRecord, change: GroupChange) -> NotificationRecord:
    """``record`` with ``change`` applied."""
    return dataclasses.replace(
        record, actors=change.actors, actor_count=change.actor_count, comment_id=change.comment_id,
        event_ids=change.event_ids, updated_at=change.updated_at, read_at=change.read_at,
    )


@dataclass(frozen=True)
class GroupUpdate:
    """What :meth:`NotificationStore.group_add_many` did to one group.

    Attributes:
        record: the notification after every event of the call.
        created: the call created the group.
        new_actors: actors who joined it in this call (its creator included); 0 when every
            event was a repeat — then the recipient sees nothing new and nothing is pushed.
        applied: events applied to it in this call (replays excluded).
    """

    record: NotificationRecord
    created: bool
    new_actors: int
    applied: int

    @property
    def notify(self) -> bool:
        """True when the recipient should be told (the group is new or an actor joined)."""
        return self.new_actors > 0


def fold_into_group(
    record: NotificationRecord | None, notifications: Sequence[NewNotification], *, group_key: str
) -> GroupUpdate | None:
    """Apply ``notifications`` (one group's events, in order) to ``record`` (``None``: the group
    does not exist yet; it is created by the first, with ``id=""``) by :func:`merge_into_group`.

    Returns:
        The :class:`GroupUpdate`, or ``None`` when every event was already applied.
    """
    created, new_actors, applied = False, 0, 0
    for notification in notifications:
        if record is None:
            record = record_from_new(notification, id="", group_key=group_key)
            created, new_actors, applied = True, 1, 1
            continue
        change = merge_into_group(record, notification)
        if change is None:
            continue
        record = apply_change(record, change)
        applied += 1
        new_actors += 1 if change.new_actor else 0
    if not applied:
        return None
    return GroupUpdate(record=record, created=created, new_actors=new_actors, applied=applied)


def group_updates_one_by_one(
    groups: dict[tuple[str, int], list[NewNotification]],
    apply_one: Callable[[NewNotification, str], tuple[NotificationRecord | None, bool, bool]],
) -> list[GroupUpdate]:
    """:class:`GroupUpdate` s of ``groups`` applied one event at a time by ``apply_one(notification,
    group_key) -> (record after or None for a replay, created, new actor)`` — the stores' slow
    path when a bulk write met a concurrent change."""
    updates = []
    for (group_key, _recipient), notifications in groups.items():
        record, created, new_actors, applied = None, False, 0, 0
        for notification in notifications:
            result, was_created, new_actor = apply_one(notification, group_key)
            if result is None:
                continue
            record, applied = result, applied + 1
            created = created or was_created
            new_actors += 1 if new_actor else 0
        if record is not None:
            updates.append(GroupUpdate(record=record, created=created, new_actors=new_actors, applied=applied))
    return updates


def by_group(items: Iterable[tuple[NewNotification, str]]) -> dict[tuple[str, int], list[NewNotification]]:
    """``{(group_key, recipient_id): [notifications in order]}``, groups in order of first item."""
    groups: dict[tuple[str, int], list[NewNotification]] = {}
    for notification, group_key in items:
        groups.setdefault((group_key, notification.recipient_id), []).append(notification)
    return groups


def encode_cursor(updated_at: datetime, id: str) -> str:
    """The opaque cursor after an item: URL-safe base64 of ``[updated_at ISO, id]``."""
    raw = json.dumps([normalize_time(updated_at).isoformat(), id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Inverse of :func:`encode_cursor`.

    Raises:
        InvalidCursor: not a cursor made by :func:`encode_cursor`.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment_text, id = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        moment = datetime.fromisoformat(moment_text)
        if not isinstance(id, str) or moment.tzinfo is None:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeError, RecursionError):
        raise InvalidCursor("Invalid cursor.") from None
    return normalize_time(moment), id


def chunked(items: Sequence, size: int) -> Iterator[Sequence]:
    """Yield successive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class NotificationStore(ABC):
    """A backend of the notification store (ORM or MongoDB). Contract in the module docstring."""

    @abstractmethod
    def ping(self) -> None:
        """Run a trivial command; raise if the store does not answer (``/readyz``)."""

    def close(self) -> None:
        """Release connections (called by the backend loader on settings change)."""

    def add_many(self, notifications: Sequence[NewNotification]) -> list[str]:
        """Store ungrouped notifications in bulk (one bulk write per call, not one per item).

        Args:
            notifications: any number; callers batch fan-outs (e.g. 1,000 per call).
        Returns:
            The ids of the notifications that were NEW, in input order. An item whose
            ``(event_id, recipient_id)`` is already stored (or repeated in the input) is
            skipped: a replay adds nothing.
        """
        return [record.id for record in self.add_many_records(notifications)]

    @abstractmethod
    def add_many_records(self, notifications: Sequence[NewNotification]) -> list[NotificationRecord]:
        """:meth:`add_many`, returning the NEW notifications' records (input order) instead of
        their ids, built without reading them back (what the worker pushes)."""

    @abstractmethod
    def group_add(self, notification: NewNotification, *, group_key: str) -> NotificationRecord | None:
        """Add ``notification`` to the group ``(group_key, notification.recipient_id)``.

        Creates the group (``actors=(actor,)``, ``actor_count=1``) or applies
        :func:`merge_into_group` to it: a new actor goes first, ``actor_count`` grows,
        ``updated_at`` moves to the event time and ``read_at`` is cleared; a repeat only records
        the event; the latest ``comment_id`` is kept. Safe under concurrent calls for one group.

        Args:
            notification: a ``post_liked`` / ``post_commented`` notification.
            group_key: from :func:`group_key_for`.
        Returns:
            The notification after the change, or ``None`` when ``notification.event_id`` was
            already applied to this group (idempotent).
        """

    def delete_for_subjects(self, post_ids: Iterable[int]) -> int:
        """:meth:`delete_for_subject` for many posts in one statement. Returns how many were deleted."""
        return sum(self.delete_for_subject(post_id) for post_id in set(post_ids))

    @abstractmethod
    def group_add_many(self, items: Sequence[tuple[NewNotification, str]]) -> list[GroupUpdate]:
        """:meth:`group_add` for a whole batch: every ``(notification, group_key)`` applied in
        order, with one read of the groups and one bulk write (MongoDB: one ``bulk_write``; ORM:
        at most one insert and one update statement); a group changed concurrently is retried
        alone. Idempotent per event id like :meth:`group_add`.

        Returns:
            One :class:`GroupUpdate` per group the call changed, in order of each group's first
            item (groups whose events were all replays are left out).
        """

    @abstractmethod
    def get_many(self, ids: Iterable[str]) -> list[NotificationRecord]:
        """Return the notifications with ``ids`` (unknown or malformed ids are left out), in
        the order of ``ids``."""

    @abstractmethod
    def list_for(
        self, recipient_id: int, *, cursor: str | None = None, limit: int = 20, unread_only: bool = False
    ) -> tuple[list[NotificationRecord], str | None]:
        """One page of ``recipient_id``'s notifications, newest first (``updated_at``, ``id``).

        Args:
            cursor: ``None`` for the first page, else the ``next_cursor`` of the previous page.
            limit: page size (the API validates 1..100).
            unread_only: only notifications with ``read_at`` unset.
        Returns:
            ``(items, next_cursor)``; ``next_cursor`` is ``None`` on the last page.
        Raises:
            InvalidCursor: ``cursor`` cannot be decoded.
        """

    @abstractmethod
    def unread_count(self, recipient_id: int) -> int:
        """How many of ``recipient_id``'s notifications are unread."""

    @abstractmethod
    def mark_read(self, recipient_id: int, ids: Iterable[str] | None = None, all: bool = False) -> int:
        """Mark notifications of ``recipient_id`` read (``read_at`` = now).

        Args:
            ids: notification ids; ids of other recipients', unknown or malformed ids are
                ignored, never marked.
            all: mark every unread notification of ``recipient_id``.
        Returns:
            How many went from unread to read.
        Raises:
            ValueError: both or neither of ``ids`` and ``all`` given.
        """

    @abstractmethod
    def delete_for_subject(self, post_id: int) -> int:
        """Delete every notification about post ``post_id`` (deleted or moderated).

        Returns:
            How many were deleted.
        """

    @abstractmethod
    def delete_user(self, user_id: int) -> int:
        """Forget ``user_id``: delete the notifications they receive and those whose only
        remaining actor they are; remove them from the ``actors`` of groups with other actors
        (``actor_count`` drops by one).

        Returns:
            How many notifications were deleted (updated groups are not counted).
        """

    @abstractmethod
    def expire(self, older_than: datetime) -> int:
        """Delete notifications whose ``created_at`` is before ``older_than`` (retention).

        Returns:
            How many were deleted.
        """

    @abstractmethod
    def export_batches(self, *, batch_size: int = 1000) -> Iterator[list[NotificationRecord]]:
        """Every stored notification, oldest id first, in lists of at most ``batch_size``
        (keyset pagination; for ``manage.py notifications_copy_store``)."""

    @abstractmethod
    def import_many(self, records: Sequence[NotificationRecord]) -> int:
        """Store ``records`` as they are (ids are ignored: the store gives its own; read
        state, actors, groups and times are kept). A record whose ``(event_id,
        recipient_id)`` — or, grouped, ``(group_key, recipient_id)`` — is already stored is
        skipped, so copying twice changes nothing.

        Returns:
            How many were inserted.
        """

    @abstractmethod
    def count(self) -> int:
        """How many notifications are stored (all recipients)."""

    @abstractmethod
    def count_created_between(self, start: datetime, end: datetime) -> int:
        """How many notifications (all recipients) were created in ``[start, end)`` (UTC
        datetimes); grouped notifications count once, at their first event (analytics)."""


def check_mark_read_args(ids: Iterable[str] | None, all: bool) -> list[str] | None:
    """Validate :meth:`NotificationStore.mark_read` arguments; return ``ids`` as a list of
    strings (non-strings dropped), or ``None`` for ``all``.

    Raises:
        ValueError: both or neither given.
    """
    if (ids is None) == (not all):
        raise ValueError("give either ids or all=True")
    if all:
        return None
    return [i for i in ids if isinstance(i, str)]
