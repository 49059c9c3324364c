"""``manage.py posts_import_tweets [PATH] [--limit N] [--batch-size N] [--dry-run]``: bulk-load
the tweet corpus (``../shared/datasets/posts/pfizer_vaccine_tweets.csv.gz``) as posts.

Mapping (details in :mod:`demo.importers` and README "Operations"):

* author ``author_id`` → ego-Facebook user ``fb<node>``, ``node = int(sha256(author_id), 16) % 4039``
  (run ``graph_import_edges`` first; a missing user stops the import);
* post: ``content`` = ``text`` (trimmed, ≤ 5,000 chars), ``created_at`` kept, visibility public;
* hashtags: the ``hashtags`` column normalised with ``posts.parsing.normalize_hashtag``, invalid
  ones skipped, linked through ``PostHashtag``;
* likes: ``favorites`` spread over the author's friends — the first ``min(favorites, friends)``
  ordered by ``sha256(f"{post_id}:{friend username}")`` — at the post's time; ``like_count``
  recounted;
* idempotent: a row is identified by ``(author, created_at, content)`` (the posts table has
  no external id); a second run creates nothing.

Bulk, no events: run the backfills afterwards (``feed_backfill_scores``, ``trends_recompute
--as-of <newest post>``, ``graph_backfill``) — ``manage.py demo_run`` does all of it. Batched
(one transaction per batch), progress bar on stderr, one summary line.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from demo.importers import TWEETS_FILE, DatasetError, dataset_path, import_tweets, read_tweets


class Command(BaseCommand):
    help = "Bulk-load the tweet dataset as posts of the ego-Facebook users (hashtags, likes)."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", type=Path, help=f"default: <datasets>/{TWEETS_FILE}")
        parser.add_argument("--limit", type=int, default=None, help="Only the first N rows (oldest first).")
        parser.add_argument("--batch-size", type=int, default=1000, help="Rows per transaction (default 1000).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be created; write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, path, limit, batch_size, dry_run, no_progress, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be >= 1")
        if limit is not None and limit < 0:
            raise CommandError("--limit must be >= 0")
        try:
            rows = read_tweets(path or dataset_path(TWEETS_FILE), limit=limit)
            with tqdm(total=len(rows), unit="tweet", desc="tweets", disable=no_progress,
                      file=self.stderr._out) as bar:
                result = import_tweets(rows, batch_size=batch_size, dry_run=dry_run, on_batch=bar.update)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.summary(dry_run=dry_run))
