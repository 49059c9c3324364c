"""Fixtures of the graph-store tests: both backends, isolated without wiping shared data.

The ORM store lives in the per-session test database (rolled back per test). Neo4j is one
shared server: each test gets its own namespace (:func:`test_namespace`), so it sees nothing of
any other deployment or test, and clears exactly that namespace when it ends. Tests also keep
their own block of user ids (:class:`IdSpace`, a random offset far above real ids), so the users
they create in PostgreSQL never meet another session's either.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from graph.stores.base import DEFAULT_HALF_LIFE_DAYS
from tests.conftest import NEO4J_URL, SESSION_TAG, service_unavailable

BACKENDS = ["orm", "neo4j"]
ORM_SPEC = {"BACKEND": "graph.stores.orm.OrmGraphStore", "OPTIONS": {}}

#: A fixed moment for weight tests, and the default half-life.
T0 = datetime(2026, 1, 1, tzinfo=UTC)
HALF_LIFE = timedelta(days=DEFAULT_HALF_LIFE_DAYS)
#: Size of each test's id block.
BLOCK = 10**6


class IdSpace:
    """A test's private block of user ids: ``ids(n)`` is ``base + n``."""

    def __init__(self, base: int):
        self.base = base

    def __call__(self, n: int) -> int:
        assert 0 <= n < BLOCK
        return self.base + n

    def local(self, user_id: int) -> int:
        """Inverse of ``__call__``."""
        return user_id - self.base


_schema_installed = False


def test_namespace() -> str:
    """A fresh Neo4j namespace for one test (this session's tag plus a random part)."""
    return f"test{SESSION_TAG}_{uuid.uuid4().hex[:8]}"


test_namespace.__test__ = False  # a helper, not a test


def neo4j_spec(namespace: str) -> dict:
    """``BELLAMY_GRAPH`` for the test Neo4j server in ``namespace`` (a disposable store)."""
    return {"BACKEND": "graph.stores.neo4j.Neo4jGraphStore",
            "OPTIONS": {"url": NEO4J_URL, "namespace": namespace, "allow_clear": True}}


def neo4j_store(namespace: str | None = None):
    """A :class:`Neo4jGraphStore` on the test server in ``namespace`` (default: a fresh one),
    with its schema, or fail/skip. ``store.clear()`` deletes that namespace only."""
    global _schema_installed
    from graph.stores.neo4j import Neo4jGraphStore

    try:
        store = Neo4jGraphStore(url=NEO4J_URL, namespace=namespace or test_namespace(), allow_clear=True)
        store.ping()
        if not _schema_installed:
            store.install_schema()
            _schema_installed = True
    except Exception as exc:  # noqa: BLE001 — any driver error means "not answering"
        service_unavailable("Neo4j", exc)
    return store


@pytest.fixture
def ids():
    """This test's private id block (random, far above any real user id)."""
    return IdSpace(10**12 + random.SystemRandom().randrange(10**6) * BLOCK)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The backend name under test: ``"orm"`` or ``"neo4j"``."""
    return request.param


@pytest.fixture
def store(backend, db):
    """A store of ``backend``; for Neo4j, in a fresh namespace cleared afterwards."""
    if backend == "orm":
        from graph.stores.orm import OrmGraphStore

        yield OrmGraphStore()
        return
    neo = neo4j_store()
    try:
        yield neo
    finally:
        neo.clear(force=True)


@pytest.fixture
def configured_backend(backend, settings, db):
    """Make ``get_graph_store()`` return ``backend`` for this test (Neo4j: a fresh namespace,
    cleared after)."""
    if backend == "orm":
        settings.BELLAMY_GRAPH = ORM_SPEC
        yield backend
        return
    neo = neo4j_store()
    settings.BELLAMY_GRAPH = neo4j_spec(neo.namespace)
    try:
        yield backend
    finally:
        neo.clear()


@pytest.fixture
def users_in_block(ids, db):
    """Make new PostgreSQL users take ids inside this test's block (``ids.base + 500000 + n``),
    so the Neo4j nodes a test writes for real users never collide with another test session's
    and are deleted with the block. (Sequences are not transactional; only the test database's
    sequence moves.)"""
    from django.contrib.auth import get_user_model
    from django.db import connection

    table = get_user_model()._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, ids.base + 500000])
    return ids.base + 500000
