"""``manage.py graph_import_interactions [PATH] [--limit N] [--batch-size N] [--dry-run]``: load
SNAP CollegeMsg (``../shared/datasets/interactions/CollegeMsg.txt.gz``, ``src dst unix_ts``) as
interaction weights of the configured graph store.

Mapping (details in :mod:`demo.importers` and README "Operations"): CollegeMsg user
``u`` → ego-Facebook user ``fb<(u * 2654435761) % 4039>`` (injective on 1..1,899; run
``graph_import_edges`` first). Each message adds ``MESSAGE_WEIGHT`` (2.0, a comment's weight)
to sender → recipient. Per directed pair the messages are summed with the store's half-life
decay **as of the newest message**, and written with ``bulk_set_weights`` **stamped now** — a
deliberate time shift: 2004 messages read today would decay to 0. The pair's
PostgreSQL-derived weight (likes, comments, mentions, as ``graph_backfill`` computes it) is
added, so this composes with the projection and is idempotent (same values on a second run).
Run it again after ``graph_backfill``, which rebuilds weights from PostgreSQL only.
Progress bar on stderr, one summary line.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from demo.importers import MESSAGES_FILE, DatasetError, dataset_path, import_interactions, read_messages


class Command(BaseCommand):
    help = "Load CollegeMsg messages as decayed interaction weights between ego-Facebook users."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", type=Path, help=f"default: <datasets>/{MESSAGES_FILE}")
        parser.add_argument("--limit", type=int, default=None, help="Only the first N messages.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Weights per store round trip.")
        parser.add_argument("--dry-run", action="store_true", help="Compute; write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, path, limit, batch_size, dry_run, no_progress, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be >= 1")
        if limit is not None and limit < 0:
            raise CommandError("--limit must be >= 0")
        try:
            messages = read_messages(path or dataset_path(MESSAGES_FILE), limit=limit)
            with tqdm(unit="pair", desc="weights", disable=no_progress, file=self.stderr._out) as bar:
                result = import_interactions(messages, batch_size=batch_size, dry_run=dry_run, on_batch=bar.update)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.summary(dry_run=dry_run))
