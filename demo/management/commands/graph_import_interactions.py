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

from demo.commands import DatasetImportCommand
from demo.importers import MESSAGES_FILE, import_interactions, read_messages


class Command(DatasetImportCommand):
    help = "Load CollegeMsg messages as decayed interaction weights between ego-Facebook users."
    dataset_file = MESSAGES_FILE
    default_batch_size = 5000
    limit_help = "Only the first N messages."
    batch_size_help = "Weights per store round trip."
    dry_run_help = "Compute; write nothing."
    progress = {"unit": "pair", "desc": "weights"}

    read = staticmethod(read_messages)
    load = staticmethod(import_interactions)
