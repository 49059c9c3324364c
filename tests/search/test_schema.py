"""The search schema: which store the engine selects, what the migration installs, how it is
removed and re-installed, and the clear errors when a database cannot host it."""

from __future__ import annotations

import uuid
from io import StringIO

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connections

from bellamy import config
from posts.models import Post
from search.query import parse_post_query
from search.stores import BACKENDS, get_search_store, reinstall_after_migrate, store_for
from search.stores.base import SearchStoreError
from search.stores.postgres import PostgresSearchStore
from search.stores.sqlite import SqliteSearchStore
from tests.conftest import POSTGRES_URL
from tests.search.conftest import DATABASES, SQLITE
from tests.search.helpers import found, indexed_post_ids, write

POSTGRES_TRIGGERS = {
    ("posts_post", "search_posts_inserted"), ("posts_post", "search_post_changed"),
    ("posts_post", "search_posts_deleted"), ("posts_post", "search_posts_truncated"),
    ("posts_posthashtag", "search_hashtag_links_inserted"), ("posts_posthashtag", "search_hashtag_links_deleted"),
    ("posts_posthashtag", "search_hashtag_links_updated"), ("posts_posthashtag", "search_hashtag_links_truncated"),
    ("posts_hashtag", "search_hashtags_inserted"), ("posts_hashtag", "search_hashtag_renamed"),
    ("posts_hashtag", "search_hashtags_deleted"), ("posts_hashtag", "search_hashtags_truncated"),
    ("accounts_user", "search_users_inserted"), ("accounts_user", "search_user_renamed"),
    ("accounts_user", "search_users_deleted"), ("accounts_user", "search_users_truncated"),
}
SQLITE_TRIGGERS = {
    ("posts_post", "search_post_inserted"), ("posts_post", "search_post_changed"),
    ("posts_post", "search_post_deleted"),
}


def triggers(alias: str) -> set[tuple[str, str]]:
    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                           "WHERE NOT t.tgisinternal AND t.tgname LIKE 'search\\_%%'")
        else:
            cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search_%%'")
        return set(cursor.fetchall())


def test_the_database_engine_selects_the_store():
    assert config.search_backend("django.db.backends.postgresql") == BACKENDS["postgresql"]
    assert config.search_backend("django.db.backends.sqlite3") == BACKENDS["sqlite"]
    with pytest.raises(ImproperlyConfigured, match="search has no store for the database engine 'django.db.backends.mysql'"):
        config.search_backend("django.db.backends.mysql")


@pytest.mark.django_db(databases=DATABASES)
def test_a_store_refuses_a_database_of_another_engine(backend):
    other = SqliteSearchStore() if backend == "default" else PostgresSearchStore()
    with pytest.raises(SearchStoreError, match="BELLAMY_SEARCH must match the database engine"):
        other.search_posts(parse_post_query("x"), visible=Post.objects.all(), hashtag_ids=[], mention_ids=[], limit=1)
    assert isinstance(get_search_store(), PostgresSearchStore if backend == "default" else SqliteSearchStore)


@pytest.mark.django_db(databases=DATABASES)
def test_the_migration_installed_every_trigger(backend):
    assert triggers(backend) == (POSTGRES_TRIGGERS if backend == "default" else SQLITE_TRIGGERS)


@pytest.mark.django_db(databases=DATABASES)
def test_uninstall_then_install_restores_search_of_existing_posts(backend, user_factory):
    alice = user_factory(username="alice")
    post = write(alice, "Persimmon season")
    connection = connections[backend]
    store = store_for(connection)
    store.uninstall_schema(connection)
    assert triggers(backend) == set()
    with connection.cursor() as cursor:
        assert "search_hashtag" not in connection.introspection.table_names(cursor)
    # the migration's forward step: install, then index what is already there
    store.install_schema(connection)
    assert indexed_post_ids(backend) == set()
    store.reindex(using=backend)
    assert found(alice, "persimmon") == [post.pk]
    assert triggers(backend) == (POSTGRES_TRIGGERS if backend == "default" else SQLITE_TRIGGERS)


@pytest.mark.django_db(databases=DATABASES)
def test_postgresql_triggers_are_left_alone_after_migrate(postgresql_database):
    # PostgreSQL alters tables in place: its triggers survive, and nothing is re-installed
    reinstall_after_migrate(using="default")
    assert triggers("default") == POSTGRES_TRIGGERS


@pytest.mark.django_db(databases=DATABASES)
def test_sqlite_triggers_dropped_by_a_table_rebuild_come_back_after_migrate(sqlite_backend, user_factory):
    alice = user_factory(username="alice")
    with connections[SQLITE].cursor() as cursor:
        for _table, name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")  # what Django's SQLite table rebuild does
    lost = write(alice, "Written while the triggers were gone")
    assert found(alice, "gone") == []
    call_command("migrate", database=SQLITE, verbosity=0)  # nothing to apply; post_migrate runs
    assert triggers(SQLITE) == SQLITE_TRIGGERS
    kept = write(alice, "Written after migrate, gone no more")
    assert found(alice, "gone") == [kept.pk]
    call_command("search_reindex", "--database", SQLITE, "--no-progress", stdout=StringIO())
    assert found(alice, "gone") == [kept.pk, lost.pk]


@pytest.fixture
def c_locale_database(django_db_blocker):
    """A PostgreSQL database whose LC_CTYPE is plain C, as a Django alias; dropped afterwards."""
    name = f"test_search_ctype_{uuid.uuid4().hex[:8]}"
    base = POSTGRES_URL.rsplit("/", 1)[0].replace("postgres://", "postgresql://")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 LC_CTYPE 'C' LC_COLLATE 'C' ENCODING 'UTF8'")
    alias = "search_c_locale"
    options = {k: v for k, v in connections.settings["default"].get("OPTIONS", {}).items() if k != "pool"}
    # Its own plain connection (no pool that would keep it open past the DROP).
    spec = {**connections.settings["default"], "NAME": name, "TEST": {"NAME": name}, "OPTIONS": options}
    connections.settings[alias] = spec
    try:
        with django_db_blocker.unblock():
            yield connections[alias]
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")


def test_postgresql_refuses_a_database_that_does_not_know_non_ascii_letters(postgresql_database, c_locale_database):
    with pytest.raises(SearchStoreError, match="search needs a UTF-8 LC_CTYPE .* this database's is 'C'"):
        PostgresSearchStore().install_schema(c_locale_database)
    with c_locale_database.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = 'search_document'")
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_real_sqlite_rebuild_of_posts_post_keeps_search_working(sqlite_backend, user_factory):
    from django.db import models

    alice = user_factory(username="alice")
    before = write(alice, "Written before the rebuild")
    connection = connections[SQLITE]
    old = Post._meta.get_field("visibility")
    wider = models.CharField(max_length=12, choices=Post.Visibility.choices, default="public")
    wider.set_attributes_from_name("visibility")
    wider.model = Post
    try:
        # what a migration altering a column does on SQLite: copy, drop, rename (our triggers go)
        with connection.schema_editor() as editor:
            editor.alter_field(Post, old, wider)
        assert triggers(SQLITE) == set()
        reinstall_after_migrate(using=SQLITE)  # what the post_migrate receiver does
        assert triggers(SQLITE) == SQLITE_TRIGGERS
        after = write(alice, "Written after the rebuild")
        assert found(alice, "written rebuild") == [after.pk, before.pk]
    finally:
        with connection.schema_editor() as editor:
            editor.alter_field(Post, wider, old)
        reinstall_after_migrate(using=SQLITE)
