"""Fixtures of the social-graph tests: people, relations, and snapshots of what was written."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bellamy.events.models import OutboxEvent
from graph.models import Block, FriendRequest, Friendship


@pytest.fixture
def alice(user_factory):
    return user_factory(username="alice")


@pytest.fixture
def bob(user_factory):
    return user_factory(username="bob")


@pytest.fixture
def carol(user_factory):
    return user_factory(username="carol")


@pytest.fixture
def pending(db):
    """``pending(a, b)`` records a pending friend request from ``a`` to ``b`` (no events)."""

    def make(a, b):
        return FriendRequest.objects.create(from_user=a, to_user=b)

    return make


def snapshot() -> dict[str, int]:
    """Row counts of everything a graph write can touch (compare before / after a bad call)."""
    return {
        "requests": FriendRequest.objects.count(),
        "pending": FriendRequest.objects.filter(status="pending").count(),
        "friendships": Friendship.objects.count(),
        "blocks": Block.objects.count(),
        "outbox": OutboxEvent.objects.count(),
    }


def events() -> list[tuple[str, str, dict, int | None]]:
    """Outbox rows as ``(type, key, data, actor_id)`` in publication order."""
    return [
        (row.type, row.key, row.payload["data"], row.payload["actor_id"])
        for row in OutboxEvent.objects.order_by("id")
    ]


def count_queries(func) -> int:
    """Run ``func()`` and return how many SQL queries it made."""
    with CaptureQueriesContext(connection) as ctx:
        func()
    return len(ctx.captured_queries)


def iso(moment) -> str:
    """A datetime as the API writes it (RFC 3339, UTC as ``Z``)."""
    return moment.isoformat().replace("+00:00", "Z")


def user_json(user) -> dict:
    """The public user object API.md specifies for ``user``."""
    user.refresh_from_db()
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": user.display_name,
        "bio": user.bio,
        "date_joined": iso(user.date_joined),
    }
