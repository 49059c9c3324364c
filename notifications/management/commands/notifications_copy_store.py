"""``manage.py notifications_copy_store --from orm|mongo --to orm|mongo [--mongo-url URL]
[--mongo-database NAME] [--batch-size N] [--dry-run]``: copy every notification from one store
backend to the other (e.g. when switching ``BELLAMY_NOTIFICATIONS_URL`` on or off).

Batched (keyset over the source's ids, one bulk insert per batch) and idempotent: a
notification whose ``(event_id, recipient_id)`` — or group — is already in the target is
skipped, so an interrupted copy can simply be run again. Read state, actors, groups and times
are kept; ids are the target's own. The MongoDB side defaults to ``BELLAMY_NOTIFICATIONS_URL``
and ``settings.BELLAMY_MONGO_DATABASE`` (derived from ``BELLAMY_NAMESPACE`` unless set). Prints progress per batch and a summary line.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bellamy.backends import build_backend

ORM = {"BACKEND": "notifications.stores.orm.OrmNotificationStore", "OPTIONS": {}}


class Command(BaseCommand):
    help = "Copy notifications between the ORM and MongoDB stores (batched, idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", choices=["orm", "mongo"], required=True)
        parser.add_argument("--to", dest="target", choices=["orm", "mongo"], required=True)
        parser.add_argument("--mongo-url", default=os.environ.get("BELLAMY_NOTIFICATIONS_URL", ""))
        parser.add_argument("--mongo-database", default=settings.BELLAMY_MONGO_DATABASE)
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--dry-run", action="store_true", help="count the source only; write nothing")

    def _store(self, kind: str, url: str, database: str):
        if kind == "orm":
            return build_backend(ORM, setting="--from/--to")
        if not url.startswith(("mongodb://", "mongodb+srv://")):
            raise CommandError("give --mongo-url (or set BELLAMY_NOTIFICATIONS_URL) to a mongodb:// URI")
        return build_backend(
            {"BACKEND": "notifications.stores.mongo.MongoNotificationStore",
             "OPTIONS": {"url": url, "database": database}},
            setting="--mongo-url",
        )

    def handle(self, *args, source: str, target: str, mongo_url: str, mongo_database: str, batch_size: int,
               dry_run: bool, **options):
        if source == target:
            raise CommandError("--from and --to must differ")
        if batch_size < 1:
            raise CommandError("--batch-size must be >= 1")
        src = self._store(source, mongo_url, mongo_database)
        dst = self._store(target, mongo_url, mongo_database)
        try:
            total = src.count()
            if dry_run:
                self.stdout.write(f"would copy up to {total} notification(s) from {source} to {target}")
                return
            read = inserted = 0
            for batch in src.export_batches(batch_size=batch_size):
                read += len(batch)
                inserted += dst.import_many(batch)
                if options["verbosity"] >= 2:
                    self.stdout.write(f"  {read}/{total} read, {inserted} inserted")
            self.stdout.write(
                f"copied {inserted} notification(s) from {source} to {target}; "
                f"{read - inserted} already there"
            )
        finally:
            src.close()
            dst.close()
