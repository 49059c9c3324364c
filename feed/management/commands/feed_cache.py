"""``manage.py feed_cache --warm [--users N] [--order ranked|recent|both] [--limit N] [--dry-run]``
and ``manage.py feed_cache --flush [--dry-run]``: warm or flush the versioned feed cache.

* ``--warm`` computes the first page (``limit``, default 20 as the API) of the home feed of
  active users — all, or the first ``--users N`` by id — through
  :func:`feed.selectors.cached_feed_page`, the same cache-aside path the API reads, so the next
  request of each user is a hit (until an event bumps their version or ``PAGE_TTL`` passes).
  Users whose page is already cached count as hits and are not recomputed.
* ``--flush`` bumps the version token of every user (:func:`feed.cache.feed_versions_bump`,
  one ``set_many`` per batch): their cached pages become unreachable and expire. It never
  deletes other keys of the shared cache.

Both are idempotent and batched, with a progress bar and one summary line; ``--dry-run``
only counts.
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from feed.cache import feed_versions_bump
from feed.selectors import cached_feed_page


class Command(BaseCommand):
    help = "Warm (first page per user) or flush (bump every version) the feed cache."

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--warm", action="store_true", help="Compute and cache users' first feed page.")
        action.add_argument("--flush", action="store_true", help="Invalidate every user's cached pages.")
        parser.add_argument("--users", type=int, default=None, help="--warm: only the first N active users by id.")
        parser.add_argument("--order", choices=["ranked", "recent", "both"], default="ranked")
        parser.add_argument("--limit", type=int, default=20, help="Page size to warm (1..100, default 20).")
        parser.add_argument("--batch-size", type=int, default=1000, help="Users per batch.")
        parser.add_argument("--dry-run", action="store_true", help="Count only; write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, warm, flush, users, order, limit, batch_size, dry_run, no_progress, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be >= 1")
        if not 1 <= limit <= 100:
            raise CommandError("--limit must be 1..100")
        if users is not None and users < 1:
            raise CommandError("--users must be >= 1")
        started = time.perf_counter()
        User = get_user_model()
        if flush:
            ids = list(User.objects.order_by("id").values_list("id", flat=True))
            with tqdm(total=len(ids), unit="user", disable=no_progress, file=self.stderr._out) as bar:
                for start in range(0, len(ids), batch_size):
                    batch = ids[start:start + batch_size]
                    if not dry_run:
                        feed_versions_bump(batch)
                    bar.update(len(batch))
            verb = "would flush" if dry_run else "flushed"
            self.stdout.write(f"{verb} the feed cache of {len(ids)} users in {time.perf_counter() - started:.1f} s")
            return
        viewers = User.objects.filter(is_active=True).order_by("id")
        if users is not None:
            viewers = viewers[:users]
        orders = ["ranked", "recent"] if order == "both" else [order]
        total = viewers.count()
        computed = hits = 0
        with tqdm(total=total, unit="user", disable=no_progress, file=self.stderr._out) as bar:
            for viewer in viewers.iterator(chunk_size=batch_size):
                if not dry_run:
                    for name in orders:
                        _page, hit = cached_feed_page(viewer, order=name, limit=limit)
                        hits += int(hit)
                        computed += int(not hit)
                bar.update(1)
        if dry_run:
            self.stdout.write(f"would warm {total * len(orders)} feed pages of {total} users")
            return
        self.stdout.write(
            f"warmed {computed} feed pages ({hits} already cached) of {total} users "
            f"({'/'.join(orders)}, limit {limit}) in {time.perf_counter() - started:.1f} s"
        )
