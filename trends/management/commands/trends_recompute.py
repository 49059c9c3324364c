"""``manage.py trends_recompute [--window 1h|24h|7d] [--as-of ISO] [--no-rebuild]``: rebuild the
hashtag buckets from posts (with a progress bar), then the GlobalTrends of one or every
window as of a reference time (default now)."""

from __future__ import annotations


from django.core.management.base import BaseCommand
from django.utils import timezone
from tqdm import tqdm

from posts.models import PostHashtag
from trends import trending
from bellamy.commands import parse_moment
from trends.services import global_trends_recompute, trend_buckets_rebuild


class Command(BaseCommand):
    help = "Rebuild hashtag buckets from posts, then the trends of a window as of a reference time."

    def add_arguments(self, parser):
        parser.add_argument("--window", choices=sorted(trending.WINDOWS), help="One window (default: all).")
        parser.add_argument("--as-of", dest="as_of", help="Reference time, ISO 8601 (UTC if naive; default now).")
        parser.add_argument(
            "--no-rebuild", action="store_true", help="Keep the buckets; only recompute the trends."
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, window, as_of, no_rebuild, no_progress, **options):
        as_of_at = parse_moment(as_of, "--as-of") if as_of else timezone.now()
        if not no_rebuild:
            with tqdm(
                total=PostHashtag.objects.count(), unit="link", disable=no_progress, file=self.stderr._out
            ) as bar:
                rebuilt = trend_buckets_rebuild(on_progress=bar.update)
            self.stdout.write(
                f"buckets rebuilt: {rebuilt.contributions} contributions, {rebuilt.buckets} hour buckets, "
                f"{rebuilt.author_buckets} author buckets"
            )
        for name in [window] if window else list(trending.WINDOWS):
            rows = global_trends_recompute(window=name, as_of=as_of_at)
            top = ", ".join(f"#{row.hashtag.name}" for row in rows[:5]) if rows else "-"
            self.stdout.write(f"{name}: {len(rows)} trends as of {as_of_at.isoformat()} (top: {top})")
