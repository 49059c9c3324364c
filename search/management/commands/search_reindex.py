"""``manage.py search_reindex [--batch-size N] [--dry-run] [--no-progress] [--database ALIAS]``:
bring the search index in line with the posts, users and hashtags (a backfill: after restoring
a backup without the index, after a bug, or to check it). Batched, idempotent, with a progress
bar on stderr and one summary line."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS
from tqdm import tqdm

from search.services import search_index_rebuild
from search.stores import get_search_store

PARTS = ("posts", "people", "hashtags")


class Command(BaseCommand):
    help = "Rebuild the search index (post documents, people, hashtags) from the source tables."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000, help="Source rows per batch (default 1000).")
        parser.add_argument("--dry-run", action="store_true", help="Count what is stale; write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default).")

    def handle(self, *args, batch_size, dry_run, no_progress, database, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        total = sum(get_search_store().source_counts(using=database).values())
        with tqdm(total=total, unit="row", disable=no_progress, file=self.stderr._out) as bar:
            result = search_index_rebuild(
                using=database, batch_size=batch_size, dry_run=dry_run,
                on_progress=lambda part, rows: bar.update(rows),
            )
        parts = ", ".join(
            f"{part} {result.examined.get(part, 0)} read, {result.written.get(part, 0)} written, "
            f"{result.removed.get(part, 0)} removed"
            for part in PARTS
        )
        verb = "dry run: would change" if dry_run else "changed"
        self.stdout.write(f"search_reindex: {verb} {result.changed} index rows ({parts}) in {result.seconds:.2f}s")
