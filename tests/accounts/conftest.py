"""Fixtures of the accounts tests."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.throttling import ScopedRateThrottle

from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken


@pytest.fixture
def tight_throttles(monkeypatch):
    """Throttle ``register`` and ``token`` at 2 requests a minute (DRF reads rates at class level)."""
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"register": "2/min", "token": "2/min"})


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


def snapshot() -> dict[str, int]:
    """Row counts an accounts write can touch (compare before / after a refused call)."""
    return {
        "users": get_user_model().objects.count(),
        "outstanding": OutstandingToken.objects.count(),
        "blacklisted": BlacklistedToken.objects.count(),
    }


# --- both store backends for the erasure tests -------------------------------------------------
from tests.graph_store.conftest import ORM_SPEC, neo4j_spec, neo4j_store  # noqa: E402
from tests.events.conftest import celery_broker  # noqa: E402,F401
from tests.notifications.conftest import ORM_BACKEND, mongo_backend, mongo_database  # noqa: E402,F401


@pytest.fixture(params=["orm", "mongo+neo4j"])
def stores(request, settings, transactional_db):
    """Both backends of every two-backend store in turn: the ORM stores (embedded default), then
    MongoDB notifications and the Neo4j graph (production) in a fresh Neo4j namespace, cleared
    afterwards (nothing else of the shared server is touched). Yields the name."""
    if request.param == "orm":
        settings.BELLAMY_NOTIFICATIONS = ORM_BACKEND
        settings.BELLAMY_GRAPH = ORM_SPEC
        yield request.param
        return
    settings.BELLAMY_NOTIFICATIONS = mongo_backend(request.getfixturevalue("mongo_database"))
    neo = neo4j_store()
    settings.BELLAMY_GRAPH = neo4j_spec(neo.namespace)
    try:
        yield request.param
    finally:
        neo.clear()
