"""The notification store contract, run against every backend (``orm`` and ``mongo`` on the
real MongoDB-compatible server) with exact expected values, so the two cannot drift apart."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from notifications.stores.base import (
    FRIEND_POSTED,
    FRIEND_REQUEST,
    MENTIONED,
    POST_COMMENTED,
    POST_LIKED,
    InvalidCursor,
    NewNotification,
    NotificationRecord,
    encode_cursor,
    group_key_for,
)
from tests.notifications.conftest import ORM_BACKEND, T0, mongo_backend

H = timedelta(hours=1)
M = timedelta(minutes=1)


def new(recipient, event, actor, at, type=FRIEND_POSTED, post_id=None, comment_id=None):
    return NewNotification(recipient, type, event, actor, at, post_id=post_id, comment_id=comment_id)


def rec(store_id, recipient, type, actors, count, event_ids, created, updated=None, post_id=None,
        comment_id=None, group_key=None, read_at=None):
    """The expected record."""
    return NotificationRecord(
        id=store_id, recipient_id=recipient, type=type, actors=tuple(actors), actor_count=count,
        post_id=post_id, comment_id=comment_id, group_key=group_key, event_id=event_ids[0],
        event_ids=tuple(event_ids), created_at=created, updated_at=updated or created, read_at=read_at,
    )


def page_ids(store, recipient, **kwargs):
    items, cursor = store.list_for(recipient, **kwargs)
    return [item.id for item in items], cursor


# --- add_many ---------------------------------------------------------------------------------
def test_add_many_returns_new_ids_in_input_order_and_stores_exact_records(store):
    # given three notifications of one event to three recipients
    batch = [new(r, "e1", 7, T0, post_id=70) for r in (1, 2, 3)]
    # when added
    ids = store.add_many(batch)
    # then three distinct string ids come back and each record is exactly as added, unread
    assert len(ids) == 3 and len(set(ids)) == 3 and all(isinstance(i, str) for i in ids)
    assert store.get_many(ids) == [
        rec(ids[0], 1, FRIEND_POSTED, [7], 1, ["e1"], T0, post_id=70),
        rec(ids[1], 2, FRIEND_POSTED, [7], 1, ["e1"], T0, post_id=70),
        rec(ids[2], 3, FRIEND_POSTED, [7], 1, ["e1"], T0, post_id=70),
    ]
    assert store.count() == 3


def test_add_many_replay_adds_nothing_and_partial_overlap_adds_only_the_new(store):
    # given an event stored for recipients 1 and 2
    first = store.add_many([new(1, "e1", 7, T0), new(2, "e1", 7, T0)])
    # when the same event is replayed
    assert store.add_many([new(1, "e1", 7, T0), new(2, "e1", 7, T0)]) == []
    # when it is replayed with one more recipient, and a duplicate inside the batch
    again = store.add_many([new(2, "e1", 7, T0), new(3, "e1", 7, T0), new(3, "e1", 7, T0)])
    # then only recipient 3 is new
    assert len(again) == 1
    assert [r.recipient_id for r in store.get_many(again)] == [3]
    assert store.count() == 3
    assert len(first) == 2
    assert store.add_many([]) == []


def test_add_many_records_returns_exactly_what_is_stored(store):
    # given one stored notification
    store.add_many([new(1, "e1", 7, T0)])
    # when the event is added again for recipients 1 and 2, with microseconds
    records = store.add_many_records([new(1, "e1", 7, T0), new(2, "e1", 7, T0 + timedelta(microseconds=1500))])
    # then only recipient 2's record comes back, equal to the stored one
    assert [r.without_id() for r in records] == [
        rec("", 2, FRIEND_POSTED, [7], 1, ["e1"], T0 + timedelta(microseconds=1000))
    ]
    assert store.get_many([records[0].id]) == records


def test_add_many_stores_times_in_utc_milliseconds(store):
    # given a time with microseconds, expressed in UTC+02:00
    moment = (T0 + timedelta(microseconds=123456)).astimezone(timezone.get_fixed_timezone(120))
    # when stored
    [nid] = store.add_many([new(1, "e1", 7, moment)])
    # then it is kept truncated to the millisecond, in UTC
    [record] = store.get_many([nid])
    assert record.created_at == T0 + timedelta(microseconds=123000)
    assert record.updated_at == record.created_at
    assert record.created_at.utcoffset() == timedelta(0)


# --- list_for ---------------------------------------------------------------------------------
def test_list_for_is_newest_first_paginated_by_opaque_cursor(store):
    # given five notifications of recipient 1 at distinct times, two sharing one time,
    # and one of recipient 2
    ids = store.add_many([new(1, f"e{i}", 7, T0 + i * M) for i in range(3)])
    tied = store.add_many([new(1, "t1", 8, T0 + 5 * M), new(1, "t2", 8, T0 + 5 * M)])
    store.add_many([new(2, "other", 7, T0 + 9 * M)])
    # when listed two at a time
    page1, c1 = page_ids(store, 1, limit=2)
    page2, c2 = page_ids(store, 1, limit=2, cursor=c1)
    page3, c3 = page_ids(store, 1, limit=2, cursor=c2)
    # then newest first by (updated_at, id): the later-inserted of the tie comes first
    assert page1 == [tied[1], tied[0]]
    assert page2 == [ids[2], ids[1]]
    assert page3 == [ids[0]]
    assert isinstance(c1, str) and isinstance(c2, str) and c3 is None
    # and a page exactly filling the rest has no next cursor
    assert page_ids(store, 1, limit=5) == ([tied[1], tied[0], ids[2], ids[1], ids[0]], None)
    assert page_ids(store, 99) == ([], None)


def test_list_for_unread_only_and_unread_count(store):
    # given three notifications, one of them read
    ids = store.add_many([new(1, f"e{i}", 7, T0 + i * M) for i in range(3)])
    assert store.mark_read(1, ids=[ids[1]]) == 1
    # then the unread filter and the count leave it out
    assert page_ids(store, 1, unread_only=True) == ([ids[2], ids[0]], None)
    assert store.unread_count(1) == 2
    assert store.unread_count(2) == 0
    items, _ = store.list_for(1)
    assert [item.read for item in items] == [False, True, False]


@pytest.mark.parametrize("cursor", ["garbage!", "", "eyJ4IjoxfQ", encode_cursor(T0, "not-an-id")])
def test_list_for_rejects_an_undecodable_cursor(store, cursor):
    with pytest.raises(InvalidCursor):
        store.list_for(1, cursor=cursor)


# --- mark_read --------------------------------------------------------------------------------
def test_mark_read_ignores_other_recipients_unknown_and_malformed_ids(store):
    # given notifications of recipients 1 and 2
    mine = store.add_many([new(1, "a", 7, T0), new(1, "b", 7, T0)])
    theirs = store.add_many([new(2, "a", 7, T0)])
    # when recipient 1 marks its first, the other's, and junk ids
    updated = store.mark_read(1, ids=[mine[0], theirs[0], "nope", "123456789", "0" * 24])
    # then only its own one is marked
    assert updated == 1
    assert [r.read for r in store.get_many([mine[0], mine[1], theirs[0]])] == [True, False, False]
    # and marking it again counts nothing
    assert store.mark_read(1, ids=[mine[0]]) == 0
    assert store.mark_read(1, ids=[]) == 0


def test_mark_read_all_marks_only_the_recipients_unread(store):
    store.add_many([new(1, f"e{i}", 7, T0) for i in range(4)] + [new(2, "e0", 7, T0)])
    store.mark_read(1, ids=[store.list_for(1)[0][0].id])
    assert store.mark_read(1, all=True) == 3
    assert store.unread_count(1) == 0
    assert store.unread_count(2) == 1
    assert store.mark_read(1, all=True) == 0
    [record] = store.list_for(1, limit=1)[0]
    assert record.read_at is not None and record.read_at.utcoffset() == timedelta(0)


def test_mark_read_needs_exactly_one_of_ids_and_all(store):
    with pytest.raises(ValueError):
        store.mark_read(1)
    with pytest.raises(ValueError):
        store.mark_read(1, ids=["x"], all=True)


# --- group_add --------------------------------------------------------------------------------
def test_group_add_groups_actors_of_one_post_and_hour(store):
    key = group_key_for(POST_LIKED, 70, T0)
    assert key == f"post_liked:70:{T0:%Y%m%dT%H}"
    # when the first like arrives
    first = store.group_add(new(1, "l1", 11, T0 + M, POST_LIKED, post_id=70), group_key=key)
    # then a group with one actor exists
    assert first == rec(first.id, 1, POST_LIKED, [11], 1, ["l1"], T0 + M, post_id=70, group_key=key)
    # when the recipient reads it, and two more people like within the hour
    assert store.mark_read(1, ids=[first.id]) == 1
    second = store.group_add(new(1, "l2", 12, T0 + 2 * M, POST_LIKED, post_id=70), group_key=key)
    third = store.group_add(new(1, "l3", 13, T0 + 3 * M, POST_LIKED, post_id=70), group_key=key)
    # then it is the same notification, most recent actor first, unread again, moved in time
    assert second.id == third.id == first.id
    assert third == rec(first.id, 1, POST_LIKED, [13, 12, 11], 3, ["l1", "l2", "l3"], T0 + M,
                        updated=T0 + 3 * M, post_id=70, group_key=key)
    assert store.get_many([first.id]) == [third]
    assert store.unread_count(1) == 1
    assert store.count() == 1


def test_group_add_is_idempotent_per_event(store):
    key = group_key_for(POST_LIKED, 70, T0)
    store.group_add(new(1, "l1", 11, T0, POST_LIKED, post_id=70), group_key=key)
    second = store.group_add(new(1, "l2", 12, T0 + M, POST_LIKED, post_id=70), group_key=key)
    # when both events are replayed
    assert store.group_add(new(1, "l2", 12, T0 + M, POST_LIKED, post_id=70), group_key=key) is None
    assert store.group_add(new(1, "l1", 11, T0, POST_LIKED, post_id=70), group_key=key) is None
    # then nothing changed
    assert store.get_many([second.id]) == [second]
    assert second.actor_count == 2


def test_a_repeat_by_a_known_actor_changes_nothing_the_recipient_sees(store):
    # given a comment group of 11 then 12, read by the recipient
    key = group_key_for(POST_COMMENTED, 70, T0)
    store.group_add(new(1, "c0", 11, T0, POST_COMMENTED, post_id=70, comment_id=101), group_key=key)
    read = store.group_add(new(1, "c1", 12, T0 + M, POST_COMMENTED, post_id=70, comment_id=102), group_key=key)
    assert store.mark_read(1, all=True) == 1
    # when 11 comments again
    record = store.group_add(new(1, "c2", 11, T0 + 2 * M, POST_COMMENTED, post_id=70, comment_id=103),
                             group_key=key)
    # then the event is recorded and the latest comment kept, but the actors, their order, the
    # group's time and its read state are unchanged, and nobody is counted twice
    assert record.read_at is not None
    assert record == rec(read.id, 1, POST_COMMENTED, [12, 11], 2, ["c0", "c1", "c2"], T0,
                         updated=T0 + M, post_id=70, comment_id=103, group_key=key, read_at=record.read_at)
    assert store.get_many([read.id]) == [record]
    assert store.unread_count(1) == 0


def test_group_add_many_is_one_by_one_in_bulk(store):
    # given a like group of 11 that exists, and a batch: 12 and 11 again on it, a new group of
    # another post, a repeat of the first like, and an event for another recipient
    k70, k80 = group_key_for(POST_LIKED, 70, T0), group_key_for(POST_LIKED, 80, T0)
    first = store.group_add(new(1, "l1", 11, T0, POST_LIKED, post_id=70), group_key=k70)
    updates = store.group_add_many([
        (new(1, "l2", 12, T0 + M, POST_LIKED, post_id=70), k70),
        (new(1, "l4", 13, T0 + 3 * M, POST_LIKED, post_id=80), k80),
        (new(1, "l3", 11, T0 + 2 * M, POST_LIKED, post_id=70), k70),
        (new(1, "l1", 11, T0, POST_LIKED, post_id=70), k70),
        (new(2, "l5", 11, T0 + 4 * M, POST_LIKED, post_id=80), k80),
    ])
    # then one update per group changed, in order of first appearance, with what the recipient
    # should be told: 12 joined the first group (the repeat of 11 not counted), the others are new
    assert [(u.created, u.new_actors, u.applied) for u in updates] == [(False, 1, 2), (True, 1, 1), (True, 1, 1)]
    assert all(u.notify for u in updates)
    g70, g80, g80b = (u.record for u in updates)
    assert g70 == rec(first.id, 1, POST_LIKED, [12, 11], 2, ["l1", "l2", "l3"], T0, updated=T0 + M,
                      post_id=70, group_key=k70)
    assert g80 == rec(g80.id, 1, POST_LIKED, [13], 1, ["l4"], T0 + 3 * M, post_id=80, group_key=k80)
    assert g80b == rec(g80b.id, 2, POST_LIKED, [11], 1, ["l5"], T0 + 4 * M, post_id=80, group_key=k80)
    assert store.get_many([first.id, g80.id, g80b.id]) == [g70, g80, g80b]
    # when the whole batch is replayed, plus a repeat of 12: nothing to tell
    again = store.group_add_many([(new(1, "l2", 12, T0 + M, POST_LIKED, post_id=70), k70),
                                  (new(1, "l6", 12, T0 + 5 * M, POST_LIKED, post_id=70), k70)])
    assert [(u.created, u.new_actors, u.applied, u.notify) for u in again] == [(False, 0, 1, False)]
    assert store.group_add_many([(new(1, "l4", 13, T0 + 3 * M, POST_LIKED, post_id=80), k80)]) == []
    assert store.count() == 3


def test_delete_for_subjects_deletes_every_post_of_the_list(store):
    store.add_many([new(1, "e1", 7, T0, post_id=70), new(2, "e1", 7, T0, post_id=70),
                    new(1, "e2", 7, T0, post_id=80), new(1, "e3", 7, T0, post_id=90)])
    assert store.delete_for_subjects([70, 80, 70, 123]) == 3
    assert [r.post_id for batch in store.export_batches() for r in batch] == [90]
    assert store.delete_for_subjects([]) == 0


def test_group_add_keeps_the_last_ten_actors_and_counts_all(store):
    key = group_key_for(POST_LIKED, 70, T0)
    for actor in range(100, 112):
        record = store.group_add(new(1, f"l{actor}", actor, T0 + (actor - 100) * M, POST_LIKED, post_id=70),
                                 group_key=key)
    assert record.actors == tuple(range(111, 101, -1))
    assert record.actor_count == 12
    assert len(record.event_ids) == 12


def test_group_add_separates_hours_posts_recipients_and_moves_the_group_to_the_top(store):
    # given a like group at T0 for recipient 1 and a newer friend notification
    k0 = group_key_for(POST_LIKED, 70, T0)
    g = store.group_add(new(1, "l1", 11, T0, POST_LIKED, post_id=70), group_key=k0)
    [other] = store.add_many([new(1, "p1", 9, T0 + 10 * M)])
    assert page_ids(store, 1)[0] == [other, g.id]
    # when a second like arrives in the same hour, it moves to the top
    store.group_add(new(1, "l2", 12, T0 + 20 * M, POST_LIKED, post_id=70), group_key=k0)
    assert page_ids(store, 1)[0] == [g.id, other]
    # when likes arrive in the next hour, on another post, for another recipient: new groups
    k1 = group_key_for(POST_LIKED, 70, T0 + H)
    assert k1 != k0
    next_hour = store.group_add(new(1, "l3", 13, T0 + H, POST_LIKED, post_id=70), group_key=k1)
    other_post = store.group_add(new(1, "l4", 13, T0 + 21 * M, POST_LIKED, post_id=71),
                                 group_key=group_key_for(POST_LIKED, 71, T0))
    other_recipient = store.group_add(new(2, "l2", 12, T0 + 20 * M, POST_LIKED, post_id=70), group_key=k0)
    assert len({g.id, next_hour.id, other_post.id, other_recipient.id}) == 4
    assert next_hour.actor_count == other_post.actor_count == other_recipient.actor_count == 1
    assert store.count() == 5


# --- deletions and expiry ---------------------------------------------------------------------
def test_delete_for_subject_deletes_every_notification_of_the_post(store):
    store.add_many([new(r, "p70", 7, T0, post_id=70) for r in (1, 2)] + [new(1, "p71", 7, T0, post_id=71)])
    store.group_add(new(1, "l1", 11, T0, POST_LIKED, post_id=70), group_key=group_key_for(POST_LIKED, 70, T0))
    assert store.delete_for_subject(70) == 3
    assert [r.post_id for r in store.list_for(1)[0]] == [71]
    assert store.delete_for_subject(70) == 0


def test_delete_user_as_recipient_and_as_actor(store):
    # given user 5 receives two, is the only actor of two, and shares a group with 6
    store.add_many([new(5, "a", 7, T0), new(5, "b", 8, T0)])
    store.add_many([new(1, "c", 5, T0), new(2, "c", 5, T0, MENTIONED)])
    key = group_key_for(POST_LIKED, 70, T0)
    store.group_add(new(1, "l1", 5, T0, POST_LIKED, post_id=70), group_key=key)
    shared = store.group_add(new(1, "l2", 6, T0 + M, POST_LIKED, post_id=70), group_key=key)
    [kept] = store.add_many([new(3, "d", 7, T0)])
    # when user 5 is deleted
    assert store.delete_user(5) == 4
    # then the shared group keeps 6 alone and the unrelated one is untouched
    assert store.get_many([shared.id, kept]) == [
        rec(shared.id, 1, POST_LIKED, [6], 1, ["l1", "l2"], T0, updated=T0 + M, post_id=70, group_key=key),
        rec(kept, 3, FRIEND_POSTED, [7], 1, ["d"], T0),
    ]
    assert store.count() == 2


def test_expire_deletes_only_notifications_created_before_the_cutoff(store):
    store.add_many([new(1, "old1", 7, T0 - 10 * 24 * H), new(2, "old2", 7, T0 - 6 * 24 * H)])
    [recent] = store.add_many([new(1, "new", 7, T0)])
    assert store.expire(T0 - 5 * 24 * H) == 2
    assert page_ids(store, 1) == ([recent], None)
    assert store.expire(T0 - 5 * 24 * H) == 0


# --- get_many, export and import --------------------------------------------------------------
def test_get_many_keeps_order_and_leaves_out_unknown_ids(store):
    ids = store.add_many([new(1, f"e{i}", 7, T0) for i in range(3)])
    assert [r.id for r in store.get_many([ids[2], "zzz", ids[0], "999999999"])] == [ids[2], ids[0]]


def test_export_and_import_copy_everything_and_are_idempotent(store, settings, mongo_database):
    # given a store with a read notification and a group
    [a] = store.add_many([new(1, "a", 7, T0)])
    store.mark_read(1, ids=[a])
    store.group_add(new(1, "l1", 11, T0, POST_LIKED, post_id=70), group_key=group_key_for(POST_LIKED, 70, T0))
    store.group_add(new(1, "l2", 12, T0 + M, POST_LIKED, post_id=70), group_key=group_key_for(POST_LIKED, 70, T0))
    source = [r.without_id() for batch in store.export_batches(batch_size=1) for r in batch]
    assert len(source) == 2
    # when exported in batches of one into the other backend, twice
    from bellamy.backends import build_backend

    other = build_backend(mongo_backend(mongo_database) if settings.BELLAMY_NOTIFICATIONS == ORM_BACKEND
                          else ORM_BACKEND)
    records = [r for batch in store.export_batches(batch_size=1) for r in batch]
    assert other.import_many(records) == 2
    assert other.import_many(records) == 0
    # then the copy is identical apart from ids
    assert [r.without_id() for batch in other.export_batches() for r in batch] == source
    other.close()


# --- both backends agree ----------------------------------------------------------------------
def scenario(store) -> list:
    """A mixed sequence of calls; returns every result with ids replaced by their rank."""
    seen: dict[str, int] = {}

    def norm(value):
        if isinstance(value, NotificationRecord):
            # read_at is "now" at the call: compare whether it is set
            return norm_id(value.id), dataclasses.replace(value.without_id(), read_at=value.read)
        if isinstance(value, list | tuple):
            return [norm(v) for v in value]
        return value

    def norm_id(i):
        return seen.setdefault(i, len(seen))

    out = []
    ids = store.add_many([new(r, "e1", 7, T0, post_id=70) for r in (1, 2)] + [new(1, "f", 8, T0 + M, FRIEND_REQUEST)])
    out.append([norm_id(i) for i in ids])
    key = group_key_for(POST_LIKED, 70, T0)
    for n, actor in enumerate((11, 12, 11, 13)):
        out.append(norm(store.group_add(new(1, f"l{n}", actor, T0 + (n + 2) * M, POST_LIKED, post_id=70),
                                        group_key=key)))
    out.append(store.mark_read(1, ids=[ids[0], ids[1]]))
    items, cursor = store.list_for(1, limit=2)
    out.append(norm(items))
    out.append(norm(store.list_for(1, limit=2, cursor=cursor)[0]))
    out.append([store.unread_count(1), store.unread_count(2)])
    out.append(store.delete_user(13))
    out.append(norm(store.list_for(1, unread_only=True)[0]))
    out.append(store.delete_for_subject(70))
    out.append(store.expire(T0 + M))
    out.append(store.count())
    return out


def test_both_backends_return_identical_results(db, settings, mongo_database):
    from bellamy.backends import build_backend

    orm = build_backend(ORM_BACKEND)
    mongo = build_backend(mongo_backend(mongo_database))
    try:
        expected = scenario(orm)
        assert scenario(mongo) == expected
        assert expected[-3:] == [3, 0, 1]
    finally:
        mongo.close()


def test_naive_times_are_refused(store):
    with pytest.raises(ValueError):
        store.add_many([new(1, "e", 7, datetime(2030, 1, 1))])
    assert store.count() == 0


# --- count_created_between (analytics) ----------------------------------------------------------
def test_count_created_between_counts_the_half_open_interval(store):
    # given notifications created at T0, T0+1h and T0+2h, and a like group created at T0
    store.add_many([new(1, "e1", 7, T0), new(2, "e2", 7, T0 + H), new(3, "e3", 7, T0 + 2 * H)])
    key = group_key_for(POST_LIKED, 5, T0)
    store.group_add(new(4, "e4", 8, T0 + M, type=POST_LIKED, post_id=5), group_key=key)
    store.group_add(new(4, "e5", 9, T0 + 2 * M, type=POST_LIKED, post_id=5), group_key=key)
    # then [T0, T0+2h) holds the first two and the group (counted once, at its first event)
    assert store.count_created_between(T0, T0 + 2 * H) == 3
    assert store.count_created_between(T0 + H, T0 + 3 * H) == 2
    assert store.count_created_between(T0 - H, T0) == 0
