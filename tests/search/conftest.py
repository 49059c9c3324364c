"""Fixtures of the search tests: the whole app on either search backend, on real databases.

``backend`` is parametrised over both stores, like the other stores' contract suites:

- ``postgresql`` — the test database (PostgreSQL under ``make test``), as configured;
- ``sqlite`` — a real SQLite database *file*, even when the test database is PostgreSQL:
  a database alias (:data:`SQLITE`) created once for this package and migrated with the project's
  migrations (so FTS5 tables and triggers are installed exactly as ``make run`` installs
  them), and, for the test, a database router that sends every read and write of the app to
  it and ``BELLAMY_SEARCH`` set to the SQLite store. Services, selectors, the importer of the
  tweet corpus and the API then run unchanged against SQLite.

Tests using ``backend`` carry ``pytest.mark.django_db(databases=DATABASES)``: both aliases are
wrapped in a transaction that is rolled back after the test.
"""

from __future__ import annotations

import copy

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test.utils import override_settings

from search.stores import BACKENDS
from tests.conftest import service_unavailable

#: Alias of the SQLite database file of the ``sqlite`` backend.
SQLITE = "search_sqlite"
#: The databases of a test that uses ``backend``.
DATABASES = ["default", SQLITE]


class RouteEverythingTo:
    """Database router sending every read, write and migration to one alias."""

    def __init__(self, alias: str):
        self.alias = alias

    def db_for_read(self, model, **hints):
        return self.alias

    def db_for_write(self, model, **hints):
        return self.alias

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == self.alias


#: Module path of a router instance per alias, for ``DATABASE_ROUTERS`` (which takes paths or
#: instances: instances are used as they are).
def routed_to(alias: str) -> list:
    return [RouteEverythingTo(alias)]


@pytest.fixture(scope="package", autouse=True)
def sqlite_database(django_db_setup, django_db_blocker, tmp_path_factory):
    """Create and migrate the SQLite file of the ``sqlite`` backend once for the search tests
    (the alias is removed again after them)."""
    path = tmp_path_factory.mktemp("search") / "embedded.sqlite3"
    spec = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path), "OPTIONS": {"timeout": 20},
            "TEST": {"NAME": str(path)}}
    filled = connections.configure_settings({**copy.deepcopy(settings.DATABASES), SQLITE: spec})
    connections.settings[SQLITE] = filled[SQLITE]
    with django_db_blocker.unblock(), override_settings(DATABASE_ROUTERS=routed_to(SQLITE)):
        call_command("migrate", database=SQLITE, verbosity=0, interactive=False)
    yield SQLITE
    with django_db_blocker.unblock():
        connections[SQLITE].close()
    del connections[SQLITE]
    del connections.settings[SQLITE]


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request, settings):
    """Run the test on one search backend (module docstring); yields the database alias."""
    if request.param == "postgresql":
        if connections["default"].vendor != "postgresql":
            service_unavailable("PostgreSQL", RuntimeError("the test database is not PostgreSQL (DATABASE_URL)"))
        settings.BELLAMY_SEARCH = BACKENDS["postgresql"]
        yield "default"
        return
    settings.DATABASE_ROUTERS = routed_to(SQLITE)
    settings.BELLAMY_SEARCH = BACKENDS["sqlite"]
    yield SQLITE


@pytest.fixture
def sqlite_backend(settings):
    """The ``sqlite`` backend alone, for what only the SQLite store does; yields its alias."""
    settings.DATABASE_ROUTERS = routed_to(SQLITE)
    settings.BELLAMY_SEARCH = BACKENDS["sqlite"]
    yield SQLITE


@pytest.fixture
def postgresql_database():
    """Fail (services required) or skip unless the test database is PostgreSQL."""
    if connections["default"].vendor != "postgresql":
        service_unavailable("PostgreSQL", RuntimeError("the test database is not PostgreSQL (DATABASE_URL)"))


@pytest.fixture
def store(backend):
    """The configured search store of ``backend``."""
    from search.stores import get_search_store

    return get_search_store()
