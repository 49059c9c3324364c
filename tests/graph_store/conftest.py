"""Fixtures of the graph-store tests: both backends, isolated without wiping shared data.

The ORM store lives in the per-session test database (rolled back per test). Neo4j is one
shared server, so nothing here ever clears it: each test gets its own block of user ids
(:class:`IdSpace`, a random offset far above real ids) and deletes exactly that block's nodes
when it ends.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from graph.stores.base import DEFAULT_HALF_LIFE_DAYS
from tests.conftest import NEO4J_URL, service_unavailable

BACKENDS = ["orm", "neo4j"]
NEO4J_SPEC = {"BACKEND": "graph.stores.neo4j.Neo4jGraphStore", "OPTIONS": {"url": NEO4J_URL}}
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


def neo4j_store():
    """A :class:`Neo4jGraphStore` on the test server with its schema, or fail/skip."""
    global _schema_installed
    from graph.stores.neo4j import Neo4jGraphStore

    try:
        store = Neo4jGraphStore(url=NEO4J_URL)
        store.ping()
        if not _schema_installed:
            store.install_schema()
            _schema_installed = True
    except Exception as exc:  # noqa: BLE001 — any driver error means "not answering"
        service_unavailable("Neo4j", exc)
    return store


def delete_block(base: int, size: int = BLOCK) -> None:
    """Delete the Neo4j nodes (and their relationships) whose ids are in ``[base, base+size)``."""
    from neomodel import db

    while db.cypher_query(
        "MATCH (n:User) WHERE n.user_id >= $lo AND n.user_id < $hi "
        "WITH n LIMIT 1000 DETACH DELETE n RETURN count(*)",
        {"lo": base, "hi": base + size},
    )[0][0][0]:
        pass


@pytest.fixture
def ids():
    """This test's private id block (random, far above any real user id)."""
    return IdSpace(10**12 + random.SystemRandom().randrange(10**6) * BLOCK)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The backend name under test: ``"orm"`` or ``"neo4j"``."""
    return request.param


@pytest.fixture
def store(backend, ids, db):
    """A store of ``backend``; for Neo4j, the test's id block is deleted afterwards."""
    if backend == "orm":
        from graph.stores.orm import OrmGraphStore

        yield OrmGraphStore()
        return
    neo = neo4j_store()
    try:
        yield neo
    finally:
        delete_block(ids.base)


@pytest.fixture
def configured_backend(backend, ids, settings, db):
    """Make ``get_graph_store()`` return ``backend`` for this test (Neo4j block cleaned after)."""
    if backend == "orm":
        settings.BELLAMY_GRAPH = ORM_SPEC
        yield backend
        return
    neo4j_store()
    settings.BELLAMY_GRAPH = NEO4J_SPEC
    try:
        yield backend
    finally:
        delete_block(ids.base)


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
