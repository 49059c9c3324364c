"""The production notification store: MongoDB through pymongo (standard MongoDB 7 features).

One collection, ``notifications``; a document::

    {_id: ObjectId, recipient_id: int, type: str, actors: [int], actor_count: int,
     post_id: int|null, comment_id: int|null, group_key: str (grouped documents only),
     event_id: str, event_ids: [str], created_at: date, updated_at: date, read_at: date|null,
     version: int}

Indexes (created once, lazily, by :meth:`MongoNotificationStore.ensure_indexes`):

- ``event_recipient`` unique ``(event_id, recipient_id)``: a replayed event inserts nothing;
- ``group_recipient`` unique ``(group_key, recipient_id)``, partial on ``group_key`` existing:
  one grouped document per recipient, post and hour;
- ``listing`` ``(recipient_id, updated_at desc, _id desc)``: pages newest first, unread counts;
- ``ttl_created_at`` TTL on ``created_at`` with ``expireAfterSeconds`` = retention: MongoDB
  deletes expired documents itself (``expire()`` remains for explicit runs);
- ``post`` ``(post_id)`` and ``actors`` (multikey) for deletions by subject and by user.

Fan-out uses one ``insert_many(ordered=False)`` per batch: duplicates fail individually with
error 11000 and the rest are inserted. Grouping is a compare-and-set on ``version``
(read, merge in Python with the shared rules of ``stores.base``, update if unchanged, retry); a
batch of grouped events reads every group in one ``find`` and writes them in one unordered
``bulk_write`` (inserts of new groups, compare-and-set updates of the others), and only the
groups another writer changed in between are retried one event at a time.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId
from django.conf import settings
from django.utils import timezone
from pymongo import ASCENDING, DESCENDING, InsertOne, MongoClient, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from notifications.stores.base import (
    DEFAULT_RETENTION_DAYS,
    GroupUpdate,
    InvalidCursor,
    NewNotification,
    NotificationRecord,
    NotificationStore,
    apply_change,
    by_group,
    check_mark_read_args,
    decode_cursor,
    encode_cursor,
    fold_into_group,
    group_updates_one_by_one,
    merge_into_group,
    normalize_time,
    record_from_new,
)

COLLECTION = "notifications"
DUPLICATE_KEY = 11000
#: MongoDB's IndexOptionsConflict / IndexKeySpecsConflict codes (an index exists with other options).
INDEX_CONFLICT = (85, 86)
GROUP_RETRIES = 20


def _object_ids(ids: Iterable[str]) -> list[ObjectId]:
    """The ids that are valid ObjectId hex strings (others cannot be ours)."""
    out = []
    for value in ids:
        if isinstance(value, str):
            try:
                out.append(ObjectId(value))
            except (InvalidId, TypeError):
                continue
    return out


def _record(doc: dict) -> NotificationRecord:
    return NotificationRecord(
        id=str(doc["_id"]),
        recipient_id=doc["recipient_id"],
        type=doc["type"],
        actors=tuple(doc["actors"]),
        actor_count=doc["actor_count"],
        post_id=doc.get("post_id"),
        comment_id=doc.get("comment_id"),
        group_key=doc.get("group_key"),
        event_id=doc["event_id"],
        event_ids=tuple(doc["event_ids"]),
        created_at=normalize_time(doc["created_at"]),
        updated_at=normalize_time(doc["updated_at"]),
        read_at=normalize_time(doc["read_at"]) if doc.get("read_at") else None,
    )


def _document(notification: NewNotification, *, group_key: str | None = None) -> dict:
    moment = normalize_time(notification.created_at)
    doc = {
        "_id": ObjectId(),
        "recipient_id": notification.recipient_id,
        "type": notification.type,
        "actors": [notification.actor_id],
        "actor_count": 1,
        "post_id": notification.post_id,
        "comment_id": notification.comment_id,
        "event_id": notification.event_id,
        "event_ids": [notification.event_id],
        "created_at": moment,
        "updated_at": moment,
        "read_at": None,
        "version": 1,
    }
    if group_key is not None:
        doc["group_key"] = group_key
    return doc


def _document_from_record(record: NotificationRecord) -> dict:
    doc = {
        "_id": ObjectId(),
        "recipient_id": record.recipient_id,
        "type": record.type,
        "actors": list(record.actors),
        "actor_count": record.actor_count,
        "post_id": record.post_id,
        "comment_id": record.comment_id,
        "event_id": record.event_id,
        "event_ids": list(record.event_ids),
        "created_at": normalize_time(record.created_at),
        "updated_at": normalize_time(record.updated_at),
        "read_at": normalize_time(record.read_at) if record.read_at else None,
        "version": 1,
    }
    if record.group_key is not None:
        doc["group_key"] = record.group_key
    return doc


def _group_fields(record: NotificationRecord) -> dict:
    """The grouped fields of ``record`` as a document's ``$set``."""
    return {
        "actors": list(record.actors),
        "actor_count": record.actor_count,
        "comment_id": record.comment_id,
        "event_ids": list(record.event_ids),
        "updated_at": record.updated_at,
        "read_at": record.read_at,
    }


def _insert_unordered(collection, docs: list[dict]) -> set[int]:
    """``insert_many(ordered=False)``; return the indexes of ``docs`` rejected as duplicates.

    Raises:
        BulkWriteError: an error other than a duplicate key.
    """
    if not docs:
        return set()
    try:
        collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        return {error["index"] for error in errors}
    return set()


class MongoNotificationStore(NotificationStore):
    """Notifications kept in one MongoDB collection. Contract:
    :class:`notifications.stores.base.NotificationStore`.

    Args:
        url: a ``mongodb://`` URI, replica-set options included, passed to pymongo untouched.
        database: database name.
        retention_days: TTL of notifications; defaults to the setting
            ``BELLAMY_NOTIFICATION_RETENTION_DAYS`` (90 when unset).
    """

    def __init__(self, *, url: str, database: str, retention_days: int | None = None):
        self.client = MongoClient(url, serverSelectionTimeoutMS=3000, tz_aware=True)
        self.db = self.client[database]
        self.collection = self.db[COLLECTION]
        if retention_days is None:
            retention_days = getattr(settings, "BELLAMY_NOTIFICATION_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
        self.retention = timedelta(days=retention_days)
        self._indexed = False
        self._index_lock = threading.Lock()

    def ping(self) -> None:
        self.db.command("ping")

    def close(self) -> None:
        self.client.close()

    # --- indexes ------------------------------------------------------------------------------
    def ensure_indexes(self) -> None:
        """Create the collection's indexes (module docstring) once per store instance.

        A TTL index left with another ``expireAfterSeconds`` (retention changed) is updated
        with ``collMod``. Idempotent; called lazily by every method.
        """
        if self._indexed:
            return
        with self._index_lock:
            if self._indexed:
                return
            c = self.collection
            c.create_index([("event_id", ASCENDING), ("recipient_id", ASCENDING)], unique=True, name="event_recipient")
            c.create_index(
                [("group_key", ASCENDING), ("recipient_id", ASCENDING)],
                unique=True,
                partialFilterExpression={"group_key": {"$exists": True}},
                name="group_recipient",
            )
            c.create_index(
                [("recipient_id", ASCENDING), ("updated_at", DESCENDING), ("_id", DESCENDING)], name="listing"
            )
            c.create_index([("post_id", ASCENDING)], name="post")
            c.create_index([("actors", ASCENDING)], name="actors")
            seconds = int(self.retention.total_seconds())
            try:
                c.create_index([("created_at", ASCENDING)], expireAfterSeconds=seconds, name="ttl_created_at")
            except OperationFailure as exc:
                if exc.code not in INDEX_CONFLICT:
                    raise
                self.db.command("collMod", COLLECTION, index={"name": "ttl_created_at", "expireAfterSeconds": seconds})
            self._indexed = True

    @property
    def _c(self):
        self.ensure_indexes()
        return self.collection

    # --- writes -------------------------------------------------------------------------------
    def add_many_records(self, notifications: Sequence[NewNotification]) -> list[NotificationRecord]:
        items, docs, seen = [], [], set()
        for item in notifications:
            key = (item.event_id, item.recipient_id)
            if key not in seen:
                seen.add(key)
                items.append(item)
                docs.append(_document(item))
        rejected = _insert_unordered(self._c, docs)
        return [
            record_from_new(item, id=str(doc["_id"]))
            for index, (item, doc) in enumerate(zip(items, docs, strict=True))
            if index not in rejected
        ]

    def group_add(self, notification: NewNotification, *, group_key: str) -> NotificationRecord | None:
        return self._group_apply(notification, group_key)[0]

    def _group_apply(self, notification: NewNotification, group_key: str) -> tuple[NotificationRecord | None, bool, bool]:
        """Apply one event to its group by compare-and-set on ``version`` (retried).

        Returns:
            ``(record after, created, new actor)``; ``(None, False, False)`` for a replay.
        """
        c = self._c
        query = {"group_key": group_key, "recipient_id": notification.recipient_id}
        for _attempt in range(GROUP_RETRIES):
            doc = c.find_one(query)
            if doc is None:
                new = _document(notification, group_key=group_key)
                try:
                    c.insert_one(new)
                except DuplicateKeyError:
                    # The group was created concurrently, or this event is already stored:
                    # the next round reads the group (or finds nothing and stops).
                    if c.find_one(query) is None:
                        return None, False, False
                    continue
                return _record(new), True, True
            change = merge_into_group(_record(doc), notification)
            if change is None:
                return None, False, False
            fields = _group_fields(apply_change(_record(doc), change))
            result = c.update_one({"_id": doc["_id"], "version": doc["version"]}, {"$set": fields, "$inc": {"version": 1}})
            if result.modified_count == 1:
                return _record({**doc, **fields}), False, change.new_actor
        raise RuntimeError(f"group {group_key!r} of user {notification.recipient_id} kept changing; retry later")

    def group_add_many(self, items: Sequence[tuple[NewNotification, str]]) -> list[GroupUpdate]:
        groups = by_group(items)
        if not groups:
            return []
        c = self._c
        docs = {
            (doc["group_key"], doc["recipient_id"]): doc
            for doc in c.find({"group_key": {"$in": sorted({key for key, _recipient in groups})}})
        }
        updates: dict[tuple[str, int], GroupUpdate] = {}
        operations, keys, versions = [], [], {}
        for key, notifications in groups.items():
            doc = docs.get(key)
            update = fold_into_group(_record(doc) if doc else None, notifications, group_key=key[0])
            if update is None:
                continue
            if doc is None:
                new = {**_document(notifications[0], group_key=key[0]), **_group_fields(update.record)}
                operations.append(InsertOne(new))
                update = dataclasses.replace(update, record=dataclasses.replace(update.record, id=str(new["_id"])))
            else:
                operations.append(UpdateOne({"_id": doc["_id"], "version": doc["version"]},
                                            {"$set": _group_fields(update.record), "$inc": {"version": 1}}))
                versions[key] = update.record.event_ids
            updates[key] = update
            keys.append(key)
        if not operations:
            return []
        failed = self._bulk_write_conflicts(operations, keys, versions)
        if failed:
            # Changed or created concurrently since the read: those groups again, one event at a
            # time (idempotent per event id, so an event the bulk write did apply is skipped).
            retried = group_updates_one_by_one({key: groups[key] for key in failed}, self._group_apply)
            again = {(u.record.group_key, u.record.recipient_id): u for u in retried}
            for key in failed:
                if key in again:
                    updates[key] = again[key]
                else:
                    del updates[key]
        return [updates[key] for key in keys if key in updates]

    def _bulk_write_conflicts(self, operations: list, keys: list[tuple[str, int]],
                              versions: dict[tuple[str, int], tuple[str, ...]]) -> set[tuple[str, int]]:
        """Run ``operations`` (one per key, unordered) in one ``bulk_write``; return the keys whose
        insert met a duplicate or whose compare-and-set matched nothing.

        Args:
            versions: ``{key: event ids the update writes}`` for the keys updated (not inserted).
        Raises:
            BulkWriteError: an error other than a duplicate key.
        """
        failed: set[tuple[str, int]] = set()
        try:
            matched = self._c.bulk_write(operations, ordered=False).matched_count
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            failed = {keys[error["index"]] for error in errors}
            matched = exc.details.get("nMatched", 0)
        if matched < len(versions):
            # Which compare-and-sets missed is not reported per operation: a group that does not
            # hold every event this call wrote was changed by someone else first.
            found = {
                (doc["group_key"], doc["recipient_id"]): set(doc["event_ids"])
                for doc in self._c.find({"group_key": {"$in": sorted({key for key, _r in versions})}},
                                        {"group_key": 1, "recipient_id": 1, "event_ids": 1})
            }
            failed |= {key for key, events in versions.items() if not set(events) <= found.get(key, set())}
        return failed

    def mark_read(self, recipient_id: int, ids: Iterable[str] | None = None, all: bool = False) -> int:
        wanted = check_mark_read_args(ids, all)
        query: dict = {"recipient_id": recipient_id, "read_at": None}
        if wanted is not None:
            object_ids = _object_ids(wanted)
            if not object_ids:
                return 0
            query["_id"] = {"$in": object_ids}
        result = self._c.update_many(
            query, {"$set": {"read_at": normalize_time(timezone.now())}, "$inc": {"version": 1}}
        )
        return result.modified_count

    def delete_for_subject(self, post_id: int) -> int:
        return self._c.delete_many({"post_id": post_id}).deleted_count

    def delete_for_subjects(self, post_ids: Iterable[int]) -> int:
        ids = sorted(set(post_ids))
        if not ids:
            return 0
        return self._c.delete_many({"post_id": {"$in": ids}}).deleted_count

    def delete_user(self, user_id: int) -> int:
        c = self._c
        deleted = c.delete_many({"recipient_id": user_id}).deleted_count
        deleted += c.delete_many({"actors": [user_id]}).deleted_count
        c.update_many(
            {"actors": user_id, "actor_count": {"$gt": 1}},
            {"$pull": {"actors": user_id}, "$inc": {"actor_count": -1, "version": 1}},
        )
        c.update_many({"actors": user_id}, {"$pull": {"actors": user_id}, "$inc": {"version": 1}})
        return deleted

    def expire(self, older_than: datetime) -> int:
        return self._c.delete_many({"created_at": {"$lt": normalize_time(older_than)}}).deleted_count

    def import_many(self, records: Sequence[NotificationRecord]) -> int:
        if not records:
            return 0
        rejected = _insert_unordered(self._c, docs := [_document_from_record(r) for r in records])
        return len(docs) - len(rejected)

    # --- reads --------------------------------------------------------------------------------
    def get_many(self, ids: Iterable[str]) -> list[NotificationRecord]:
        ids = list(ids)
        docs = {str(doc["_id"]): doc for doc in self._c.find({"_id": {"$in": _object_ids(ids)}})}
        return [_record(docs[i]) for i in ids if i in docs]

    def list_for(
        self, recipient_id: int, *, cursor: str | None = None, limit: int = 20, unread_only: bool = False
    ) -> tuple[list[NotificationRecord], str | None]:
        query: dict = {"recipient_id": recipient_id}
        if unread_only:
            query["read_at"] = None
        if cursor is not None:
            moment, last_id = decode_cursor(cursor)
            object_ids = _object_ids([last_id])
            if not object_ids:
                raise InvalidCursor("Invalid cursor.")
            query["$or"] = [{"updated_at": {"$lt": moment}}, {"updated_at": moment, "_id": {"$lt": object_ids[0]}}]
        docs = self._c.find(query).sort([("updated_at", DESCENDING), ("_id", DESCENDING)]).limit(limit + 1)
        page = [_record(doc) for doc in docs]
        if len(page) > limit:
            page = page[:limit]
            return page, encode_cursor(page[-1].updated_at, page[-1].id)
        return page, None

    def unread_count(self, recipient_id: int) -> int:
        return self._c.count_documents({"recipient_id": recipient_id, "read_at": None})

    def export_batches(self, *, batch_size: int = 1000) -> Iterator[list[NotificationRecord]]:
        query: dict = {}
        while True:
            docs = list(self._c.find(query).sort("_id", ASCENDING).limit(batch_size))
            if not docs:
                return
            query = {"_id": {"$gt": docs[-1]["_id"]}}
            yield [_record(doc) for doc in docs]

    def count(self) -> int:
        return self._c.count_documents({})

    def count_created_between(self, start: datetime, end: datetime) -> int:
        return self._c.count_documents({"created_at": {"$gte": start, "$lt": end}})
