"""The embedded-default notification store: a Django model in the relational database.

Works on PostgreSQL and SQLite (a batch's new notifications are one statement on PostgreSQL,
see ``_add_many_postgresql``). Writes run in the caller's transaction (the event task's), so a
task that fails leaves no notification behind.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from bellamy.api.pagination import keyset_after
from notifications.models import Notification
from notifications.stores.base import (
    GroupUpdate,
    InvalidCursor,
    NewNotification,
    NotificationRecord,
    NotificationStore,
    apply_change,
    by_group,
    check_mark_read_args,
    group_updates_one_by_one,
    decode_cursor,
    encode_cursor,
    fold_into_group,
    merge_into_group,
    normalize_time,
    record_from_new,
)


def _int_ids(ids: Iterable[str]) -> list[int]:
    """The ids that are decimal integer strings, as ints (others cannot be ours)."""
    out = []
    for value in ids:
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
            out.append(int(value))
    return out


def _record(row: Notification) -> NotificationRecord:
    return NotificationRecord(
        id=str(row.pk),
        recipient_id=row.recipient_id,
        type=row.type,
        actors=tuple(row.actors),
        actor_count=row.actor_count,
        post_id=row.post_id,
        comment_id=row.comment_id,
        group_key=row.group_key,
        event_id=row.event_id,
        event_ids=tuple(row.event_ids),
        created_at=normalize_time(row.created_at),
        updated_at=normalize_time(row.updated_at),
        read_at=normalize_time(row.read_at) if row.read_at else None,
    )


#: The fields a grouped notification's update writes.
GROUP_FIELDS = ("actors", "actor_count", "comment_id", "event_ids", "updated_at", "read_at")


def _set_fields(row: Notification, record: NotificationRecord) -> None:
    """Copy the grouped fields of ``record`` onto ``row``."""
    row.actors = list(record.actors)
    row.actor_count = record.actor_count
    row.comment_id = record.comment_id
    row.event_ids = list(record.event_ids)
    row.updated_at = record.updated_at
    row.read_at = record.read_at


def _row(notification: NewNotification, *, group_key: str | None = None) -> Notification:
    moment = normalize_time(notification.created_at)
    return Notification(
        recipient_id=notification.recipient_id,
        type=notification.type,
        actors=[notification.actor_id],
        actor_count=1,
        post_id=notification.post_id,
        comment_id=notification.comment_id,
        group_key=group_key,
        event_id=notification.event_id,
        event_ids=[notification.event_id],
        created_at=moment,
        updated_at=moment,
    )


class OrmNotificationStore(NotificationStore):
    """Notifications kept in the relational database (the embedded default).

    Contract: :class:`notifications.stores.base.NotificationStore`.
    """

    def ping(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    # --- writes -------------------------------------------------------------------------------
    def add_many_records(self, notifications: Sequence[NewNotification]) -> list[NotificationRecord]:
        if not notifications:
            return []
        unique: dict[tuple[str, int], NewNotification] = {}
        for item in notifications:
            unique.setdefault((item.event_id, item.recipient_id), item)
        if connection.vendor == "postgresql":
            return self._add_many_postgresql(list(unique.values()))
        event_ids = {key[0] for key in unique}
        recipients = {key[1] for key in unique}
        with transaction.atomic():
            existing = set(
                Notification.objects.filter(event_id__in=event_ids, recipient_id__in=recipients).values_list(
                    "event_id", "recipient_id"
                )
            )
            fresh = [item for key, item in unique.items() if key not in existing]
            if not fresh:
                return []
            if connection.features.can_return_rows_from_bulk_insert:
                # PostgreSQL: one INSERT ... RETURNING id; a concurrent run of the same event
                # between the two statements makes it fail, and the fallback below handles it.
                try:
                    with transaction.atomic():
                        rows = Notification.objects.bulk_create([_row(item) for item in fresh])
                    return [record_from_new(item, id=str(row.pk)) for item, row in zip(fresh, rows, strict=True)]
                except IntegrityError:
                    pass
            Notification.objects.bulk_create([_row(item) for item in fresh], ignore_conflicts=True)
            ids = {
                (event_id, recipient_id): pk
                for pk, event_id, recipient_id in Notification.objects.filter(
                    event_id__in={item.event_id for item in fresh},
                    recipient_id__in={item.recipient_id for item in fresh},
                ).values_list("pk", "event_id", "recipient_id")
            }
        return [
            record_from_new(item, id=str(ids[(item.event_id, item.recipient_id)]))
            for item in fresh
            if (item.event_id, item.recipient_id) in ids
        ]

    def _add_many_postgresql(self, items: list[NewNotification]) -> list[NotificationRecord]:
        """PostgreSQL: ONE ``INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING``
        for any number of rows — no read of the existing keys first, no per-row SQL to compile
        (10,000 rows of a batch's fan-out cost one round trip), and a concurrent insert of the
        same ``(event id, recipient)`` is simply skipped. The returned keys tell which were new."""
        table = Notification._meta.db_table
        columns = ("recipient_id", "type", "actors", "actor_count", "post_id", "comment_id", "event_id",
                   "event_ids", "created_at", "updated_at")
        types = ("bigint", "text", "text", "integer", "bigint", "bigint", "text", "text", "timestamptz", "timestamptz")
        moments = [normalize_time(item.created_at) for item in items]
        arrays = [
            [item.recipient_id for item in items],
            [item.type for item in items],
            [json.dumps([item.actor_id]) for item in items],
            [1] * len(items),
            [item.post_id for item in items],
            [item.comment_id for item in items],
            [item.event_id for item in items],
            [json.dumps([item.event_id]) for item in items],
            moments,
            moments,
        ]
        select = ", ".join(f"u.{c}::jsonb" if c in ("actors", "event_ids") else f"u.{c}" for c in columns)
        unnest = ", ".join(f"%s::{t}[]" for t in types)
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM unnest({unnest}) "
            f"AS u({', '.join(columns)}) ON CONFLICT DO NOTHING RETURNING id, event_id, recipient_id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, arrays)
            ids = {(event_id, recipient_id): pk for pk, event_id, recipient_id in cursor.fetchall()}
        return [
            record_from_new(item, id=str(ids[(item.event_id, item.recipient_id)]))
            for item in items
            if (item.event_id, item.recipient_id) in ids
        ]

    def group_add(self, notification: NewNotification, *, group_key: str) -> NotificationRecord | None:
        return self._group_apply(notification, group_key)[0]

    def _group_apply(self, notification: NewNotification, group_key: str) -> tuple[NotificationRecord | None, bool, bool]:
        """Apply one event to its group under the group's row lock.

        Returns:
            ``(record after, created, new actor)``; ``(None, False, False)`` for a replay.
        """
        with transaction.atomic():
            locked = Notification.objects.select_for_update().filter(
                group_key=group_key, recipient_id=notification.recipient_id
            )
            row = locked.first()
            if row is None:
                try:
                    with transaction.atomic():
                        row = _row(notification, group_key=group_key)
                        row.save(force_insert=True)
                        return _record(row), True, True
                except IntegrityError:
                    # Created concurrently, or this event already stored: re-read under lock.
                    row = locked.first()
                    if row is None:
                        return None, False, False
            change = merge_into_group(_record(row), notification)
            if change is None:
                return None, False, False
            _set_fields(row, apply_change(_record(row), change))
            row.save(update_fields=list(GROUP_FIELDS))
            return _record(row), False, change.new_actor

    def group_add_many(self, items: Sequence[tuple[NewNotification, str]]) -> list[GroupUpdate]:
        groups = by_group(items)
        if not groups:
            return []
        try:
            with transaction.atomic():
                return self._group_add_bulk(groups)
        except IntegrityError:
            # A group of the batch was created concurrently: apply the batch one event at a time
            # (each under the group's row lock); what the failed attempt wrote was rolled back.
            return self._group_add_each(groups)

    def _group_add_bulk(self, groups: dict[tuple[str, int], list[NewNotification]]) -> list[GroupUpdate]:
        """One locking read of every group, one ``bulk_create`` of the new ones and one
        ``bulk_update`` of the changed ones."""
        rows = {
            (row.group_key, row.recipient_id): row
            for row in Notification.objects.select_for_update()
            .filter(group_key__in={key for key, _recipient in groups})
            .order_by("group_key", "recipient_id")
            if (row.group_key, row.recipient_id) in groups
        }
        updates: list[GroupUpdate] = []
        created: list[tuple[int, Notification]] = []
        changed: list[Notification] = []
        for (group_key, _recipient), notifications in groups.items():
            row = rows.get((group_key, _recipient))
            update = fold_into_group(_record(row) if row else None, notifications, group_key=group_key)
            if update is None:
                continue
            if row is None:
                row = _row(notifications[0], group_key=group_key)
                _set_fields(row, update.record)
                created.append((len(updates), row))
            else:
                _set_fields(row, update.record)
                changed.append(row)
            updates.append(update)
        if created:
            Notification.objects.bulk_create([row for _index, row in created])
            for index, row in created:
                updates[index] = dataclasses.replace(
                    updates[index], record=dataclasses.replace(updates[index].record, id=str(row.pk))
                )
        if changed:
            Notification.objects.bulk_update(changed, list(GROUP_FIELDS))
        return updates

    def _group_add_each(self, groups: dict[tuple[str, int], list[NewNotification]]) -> list[GroupUpdate]:
        """The slow path of :meth:`group_add_many`: one locked read-merge-write per event."""
        return group_updates_one_by_one(groups, self._group_apply)

    def mark_read(self, recipient_id: int, ids: Iterable[str] | None = None, all: bool = False) -> int:
        wanted = check_mark_read_args(ids, all)
        rows = Notification.objects.filter(recipient_id=recipient_id, read_at__isnull=True)
        if wanted is not None:
            pks = _int_ids(wanted)
            if not pks:
                return 0
            rows = rows.filter(pk__in=pks)
        return rows.update(read_at=normalize_time(timezone.now()))

    def delete_for_subject(self, post_id: int) -> int:
        deleted, _ = Notification.objects.filter(post_id=post_id).delete()
        return deleted

    def delete_for_subjects(self, post_ids: Iterable[int]) -> int:
        ids = set(post_ids)
        if not ids:
            return 0
        deleted, _ = Notification.objects.filter(post_id__in=ids).delete()
        return deleted

    def delete_user(self, user_id: int) -> int:
        with transaction.atomic():
            deleted, _ = Notification.objects.filter(recipient_id=user_id).delete()
            candidates = Notification.objects.all()
            if connection.vendor == "postgresql":
                # JSON containment (@>) is PostgreSQL-only; SQLite scans (embedded default).
                candidates = candidates.filter(actors__contains=[user_id])
            sole, shared = [], []
            for row in candidates.only("id", "actors", "actor_count").iterator(chunk_size=1000):
                if user_id not in row.actors:
                    continue
                if row.actors == [user_id]:
                    sole.append(row.pk)
                else:
                    row.actors = [a for a in row.actors if a != user_id]
                    row.actor_count = max(row.actor_count - 1, 1)
                    shared.append(row)
            if sole:
                deleted += Notification.objects.filter(pk__in=sole).delete()[0]
            if shared:
                Notification.objects.bulk_update(shared, ["actors", "actor_count"], batch_size=1000)
        return deleted

    def expire(self, older_than: datetime) -> int:
        deleted, _ = Notification.objects.filter(created_at__lt=normalize_time(older_than)).delete()
        return deleted

    def import_many(self, records: Sequence[NotificationRecord]) -> int:
        if not records:
            return 0
        with transaction.atomic():
            existing_events = set(
                Notification.objects.filter(
                    event_id__in={r.event_id for r in records}, recipient_id__in={r.recipient_id for r in records}
                ).values_list("event_id", "recipient_id")
            )
            existing_groups = set(
                Notification.objects.filter(
                    group_key__in={r.group_key for r in records if r.group_key},
                    recipient_id__in={r.recipient_id for r in records},
                ).values_list("group_key", "recipient_id")
            )
            rows, seen = [], set()
            for r in records:
                key = (r.event_id, r.recipient_id)
                group = (r.group_key, r.recipient_id) if r.group_key else None
                if key in existing_events or key in seen or (group and group in existing_groups):
                    continue
                seen.add(key)
                if group:
                    existing_groups.add(group)
                rows.append(
                    Notification(
                        recipient_id=r.recipient_id, type=r.type, actors=list(r.actors), actor_count=r.actor_count,
                        post_id=r.post_id, comment_id=r.comment_id, group_key=r.group_key, event_id=r.event_id,
                        event_ids=list(r.event_ids), created_at=normalize_time(r.created_at),
                        updated_at=normalize_time(r.updated_at),
                        read_at=normalize_time(r.read_at) if r.read_at else None,
                    )
                )
            Notification.objects.bulk_create(rows, ignore_conflicts=True)
        return len(rows)

    # --- reads --------------------------------------------------------------------------------
    def get_many(self, ids: Iterable[str]) -> list[NotificationRecord]:
        wanted = [(value, _int_ids([value])) for value in ids]
        rows = Notification.objects.in_bulk([pks[0] for _, pks in wanted if pks])
        return [_record(rows[pks[0]]) for _, pks in wanted if pks and pks[0] in rows]

    def list_for(
        self, recipient_id: int, *, cursor: str | None = None, limit: int = 20, unread_only: bool = False
    ) -> tuple[list[NotificationRecord], str | None]:
        rows = Notification.objects.filter(recipient_id=recipient_id)
        if unread_only:
            rows = rows.filter(read_at__isnull=True)
        if cursor is not None:
            moment, last_id = decode_cursor(cursor)
            pks = _int_ids([last_id])
            if not pks:
                raise InvalidCursor("Invalid cursor.")
            # One row-value range condition, so notif_listing / notif_unread_listing read
            # only this page's rows however deep the cursor is.
            rows = rows.filter(keyset_after(("-updated_at", "-id"), [moment, pks[0]], Notification))
        page = [_record(row) for row in rows.order_by("-updated_at", "-id")[: limit + 1]]
        if len(page) > limit:
            page = page[:limit]
            return page, encode_cursor(page[-1].updated_at, page[-1].id)
        return page, None

    def unread_count(self, recipient_id: int) -> int:
        return Notification.objects.filter(recipient_id=recipient_id, read_at__isnull=True).count()

    def export_batches(self, *, batch_size: int = 1000) -> Iterator[list[NotificationRecord]]:
        last = 0
        while True:
            rows = list(Notification.objects.filter(pk__gt=last).order_by("pk")[:batch_size])
            if not rows:
                return
            last = rows[-1].pk
            yield [_record(row) for row in rows]

    def count(self) -> int:
        return Notification.objects.count()

    def count_created_between(self, start: datetime, end: datetime) -> int:
        return Notification.objects.filter(created_at__gte=start, created_at__lt=end).count()
