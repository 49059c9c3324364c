"""Fixtures of the notification tests: a store per backend (``orm`` and ``mongo`` against the
real MongoDB-compatible server, a fresh database per test), people, and event envelopes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from bellamy.events.envelope import Envelope
from notifications.stores import get_notification_store
from tests.conftest import MONGO_URL, service_unavailable

ORM_BACKEND = {"BACKEND": "notifications.stores.orm.OrmNotificationStore", "OPTIONS": {}}

#: A fixed hour two days back (well inside the 90-day TTL, so MongoDB never expires it).
T0 = (timezone.now() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def mongo_backend(database: str) -> dict:
    return {"BACKEND": "notifications.stores.mongo.MongoNotificationStore",
            "OPTIONS": {"url": MONGO_URL, "database": database}}


@pytest.fixture
def mongo_database():
    """A fresh ``bellamy_test_notif_<uuid>`` database name, dropped after the test."""
    name = f"bellamy_test_notif_{uuid.uuid4().hex[:16]}"
    client = MongoClient(MONGO_URL, serverSelectionTimeoutMS=3000)
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        client.close()
        service_unavailable("MongoDB", exc)
    yield name
    client.drop_database(name)
    client.close()


@pytest.fixture(params=["orm", "mongo"])
def backend(request, settings, db):
    """Configure ``BELLAMY_NOTIFICATIONS`` for each backend in turn; yields its name."""
    if request.param == "orm":
        settings.BELLAMY_NOTIFICATIONS = ORM_BACKEND
    else:
        settings.BELLAMY_NOTIFICATIONS = mongo_backend(request.getfixturevalue("mongo_database"))
    yield request.param


@pytest.fixture
def store(backend):
    """The configured store of the current backend (``get_notification_store()``)."""
    return get_notification_store()


@pytest.fixture
def many_users(db):
    """``many_users(n, prefix)`` bulk-creates ``n`` active users (unusable passwords); returns ids."""

    def make(n: int, prefix: str = "fan") -> list[int]:
        User = get_user_model()
        users = User.objects.bulk_create(
            [User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.org", password="!") for i in range(n)]
        )
        return [u.pk for u in users]

    return make


def envelope(event_type: str, *, key, data: dict, actor_id: int | None, at=None) -> Envelope:
    """An event envelope like ``publish()`` makes (``at``: aware datetime of ``occurred_at``)."""
    extra = {}
    if at is not None:
        extra["occurred_at"] = at.isoformat().replace("+00:00", "Z")
    return Envelope(type=event_type, key=str(key), data=data, actor_id=actor_id, **extra)
