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

from demo.commands import DatasetImportCommand
from demo.importers import TWEETS_FILE, import_tweets, read_tweets


class Command(DatasetImportCommand):
    help = "Bulk-load the tweet dataset as posts of the ego-Facebook users (hashtags, likes)."
    dataset_file = TWEETS_FILE
    default_batch_size = 1000
    limit_help = "Only the first N rows (oldest first)."
    batch_size_help = "Rows per transaction (default 1000)."
    dry_run_help = "Count what would be created; write nothing."
    progress = {"unit": "tweet", "desc": "tweets"}
    progress_total = True

    read = staticmethod(read_tweets)
    load = staticmethod(import_tweets)
