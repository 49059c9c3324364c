"""``manage.py graph_install_schema``: install the graph store's constraints and indexes.

Neo4j: the composite uniqueness constraints (and their indexes) on ``(:Member {ns, user_id})``
and ``(:AppliedEvent {ns, event_id})`` and the pruning index (idempotent; shared by every
namespace on the server; :mod:`graph.stores.neo4j`). ORM store: nothing — its tables come from
migrations.
"""

from django.core.management.base import BaseCommand

from graph.stores import get_graph_store


class Command(BaseCommand):
    help = "Install the configured graph store's constraints and indexes (idempotent)."

    def handle(self, *args, **options):
        store = get_graph_store()
        install = getattr(store, "install_schema", None)
        if install is None:
            self.stdout.write(f"{type(store).__name__}: schema comes from migrations; nothing to install")
            return
        report = install()
        if report:
            self.stdout.write(report.rstrip())
        self.stdout.write(self.style.SUCCESS(f"{type(store).__name__}: schema installed"))
