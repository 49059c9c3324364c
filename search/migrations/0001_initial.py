"""The search index: tables, functions and maintenance triggers of the database's store.

Not Django models: the schema is vendor-specific (PostgreSQL ``tsvector`` + ``pg_trgm``, or
SQLite FTS5) and written only by triggers, so it is installed by the store of the database
being migrated (:meth:`search.stores.base.SearchStore.install_schema`, idempotent) and
dropped by its ``uninstall_schema`` when migrating back. After installing it, the index is
filled from the rows already there (the triggers only see new writes).
"""

from django.db import migrations


def install(apps, schema_editor):
    from search.stores import store_for

    connection = schema_editor.connection
    store = store_for(connection)
    store.install_schema(connection)
    store.reindex(using=connection.alias)


def uninstall(apps, schema_editor):
    from search.stores import store_for

    store_for(schema_editor.connection).uninstall_schema(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("posts", "0003_moderators_group"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
