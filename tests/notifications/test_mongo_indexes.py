"""The MongoDB store's indexes: uniqueness, listing, retention TTL (and its change)."""

from __future__ import annotations

import pytest
from pymongo.errors import DuplicateKeyError

from bellamy.backends import build_backend
from tests.notifications.conftest import mongo_backend

DAY = 86400


def test_indexes_are_created_once_with_the_retention_ttl(db, settings, mongo_database):
    # given no retention setting (default 90 days)
    store = build_backend(mongo_backend(mongo_database))
    store.ensure_indexes()
    info = store.collection.index_information()
    # then every index of the module docstring exists
    assert {name: spec["key"] for name, spec in info.items()} == {
        "_id_": [("_id", 1)],
        "event_recipient": [("event_id", 1), ("recipient_id", 1)],
        "group_recipient": [("group_key", 1), ("recipient_id", 1)],
        "listing": [("recipient_id", 1), ("updated_at", -1), ("_id", -1)],
        "post": [("post_id", 1)],
        "actors": [("actors", 1)],
        "ttl_created_at": [("created_at", 1)],
    }
    assert info["event_recipient"]["unique"] is True
    assert info["group_recipient"]["unique"] is True
    assert info["ttl_created_at"]["expireAfterSeconds"] == 90 * DAY
    store.close()
    # when the retention changes to 30 days, a new store updates the TTL in place
    settings.BELLAMY_NOTIFICATION_RETENTION_DAYS = 30
    store = build_backend(mongo_backend(mongo_database))
    store.ensure_indexes()
    assert store.collection.index_information()["ttl_created_at"]["expireAfterSeconds"] == 30 * DAY
    store.close()


def test_the_unique_index_refuses_a_second_event_recipient_pair(db, mongo_database):
    store = build_backend(mongo_backend(mongo_database))
    store.ensure_indexes()
    doc = {"event_id": "e", "recipient_id": 1, "actors": [2]}
    store.collection.insert_one(dict(doc))
    with pytest.raises(DuplicateKeyError):
        store.collection.insert_one(dict(doc))
    store.close()
