"""Search stores. ``get_search_store()`` returns the backend chosen by the database engine
(``BELLAMY_SEARCH``: PostgreSQL full-text search, or SQLite FTS5 for the embedded default)."""

from __future__ import annotations

from bellamy.backends import get_backend, build_backend

#: ``BELLAMY_SEARCH`` specs per Django database vendor (see :func:`bellamy.config.search_backend`).
BACKENDS = {
    "postgresql": {"BACKEND": "search.stores.postgres.PostgresSearchStore", "OPTIONS": {}},
    "sqlite": {"BACKEND": "search.stores.sqlite.SqliteSearchStore", "OPTIONS": {}},
}


def get_search_store():
    """The configured :class:`search.stores.base.SearchStore` instance."""
    return get_backend("BELLAMY_SEARCH")


def store_for(connection):
    """A store for ``connection``'s vendor (migrations install the schema of the database they
    run on, whatever ``BELLAMY_SEARCH`` says).

    Raises:
        search.stores.base.SearchStoreError: a database vendor without a search store.
    """
    from search.stores.base import SearchStoreError

    try:
        spec = BACKENDS[connection.vendor]
    except KeyError:
        raise SearchStoreError(f"search has no store for {connection.vendor} databases") from None
    return build_backend(spec, setting="search store")


def reinstall_after_migrate(*, using: str, **kwargs) -> None:
    """``post_migrate`` receiver: on SQLite, re-create the search triggers a table rebuild
    dropped (Django rebuilds a SQLite table to alter a column, which drops its triggers).
    Does nothing before the ``search`` tables exist or on PostgreSQL (whose ``ALTER TABLE``
    keeps triggers)."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    tables = set(connection.introspection.table_names())
    if {"search_post_fts", "posts_post", "posts_posthashtag", "posts_hashtag"} <= tables:
        store_for(connection).install_triggers(connection)
