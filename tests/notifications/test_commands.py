"""``manage.py notifications_expire`` and ``notifications_copy_store``."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from bellamy.backends import build_backend
from notifications.stores import get_notification_store
from notifications.stores.base import POST_LIKED, NewNotification, group_key_for
from tests.notifications.conftest import ORM_BACKEND, T0, mongo_backend

DAY = timedelta(days=1)


def call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_expire_deletes_what_is_older_than_the_given_days(backend):
    store = get_notification_store()
    store.add_many([NewNotification(1, "friend_posted", f"old{i}", 7, T0 - 10 * DAY) for i in range(3)])
    [kept] = store.add_many([NewNotification(1, "friend_posted", "new", 7, T0)])
    assert call("notifications_expire", "--days", "5", "--dry-run").startswith("would delete")
    assert store.count() == 4
    assert call("notifications_expire", "--days", "5").startswith("deleted 3 notification(s) created before ")
    assert [r.id for r in store.list_for(1)[0]] == [kept]


def test_expire_refuses_a_bad_days_value(db):
    with pytest.raises(CommandError):
        call("notifications_expire", "--days", "0")


def test_copy_store_orm_to_mongo_and_back_is_batched_and_idempotent(db, mongo_database):
    # given five ORM notifications, one read and one group of two actors
    orm = build_backend(ORM_BACKEND)
    ids = orm.add_many([NewNotification(r, "friend_posted", "e", 7, T0 + r * DAY / 24, post_id=3) for r in range(1, 5)])
    orm.mark_read(2, ids=[ids[1]])
    key = group_key_for(POST_LIKED, 3, T0)
    orm.group_add(NewNotification(7, POST_LIKED, "l1", 1, T0, post_id=3), group_key=key)
    orm.group_add(NewNotification(7, POST_LIKED, "l2", 2, T0 + DAY / 100, post_id=3), group_key=key)
    args = ["--mongo-url", mongo_backend(mongo_database)["OPTIONS"]["url"], "--mongo-database", mongo_database]
    # when copied to MongoDB in batches of two, twice
    first = call("notifications_copy_store", "--from", "orm", "--to", "mongo", "--batch-size", "2", *args)
    second = call("notifications_copy_store", "--from", "orm", "--to", "mongo", "--batch-size", "2", *args)
    # then everything is there once, identical apart from ids
    assert first == "copied 5 notification(s) from orm to mongo; 0 already there\n"
    assert second == "copied 0 notification(s) from orm to mongo; 5 already there\n"
    mongo = build_backend(mongo_backend(mongo_database))
    # (both export in insertion order)
    assert [r.without_id() for b in mongo.export_batches() for r in b] == [
        r.without_id() for b in orm.export_batches() for r in b]
    # and copying back adds nothing
    assert call("notifications_copy_store", "--from", "mongo", "--to", "orm", *args) == (
        "copied 0 notification(s) from mongo to orm; 5 already there\n")
    mongo.close()


def test_copy_store_refuses_bad_arguments(db):
    with pytest.raises(CommandError):
        call("notifications_copy_store", "--from", "orm", "--to", "orm")
    with pytest.raises(CommandError):
        call("notifications_copy_store", "--from", "orm", "--to", "mongo", "--mongo-url", "redis://x")
