"""The embedded-default graph store: Django ORM tables in the relational database."""

from django.db import connection

from graph.stores.base import GraphStore


class OrmGraphStore(GraphStore):
    """Graph projection kept in the relational database (the embedded default)."""

    def ping(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
