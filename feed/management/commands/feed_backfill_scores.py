"""``manage.py feed_backfill_scores [--since ISO] [--batch-size N] [--dry-run]``: rebuild every
post's :class:`~feed.models.ContentScore` in bulk (one components query and one upsert per
batch), with a progress bar and a summary line."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from bellamy.commands import parse_moment
from feed.services import content_scores_backfill
from posts.models import Post


class Command(BaseCommand):
    help = "Recompute the content score of every post (or of posts created since --since)."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Only posts created at or after this ISO 8601 date/time (UTC).")
        parser.add_argument("--batch-size", type=int, default=1000, help="Posts per batch (default 1000).")
        parser.add_argument("--dry-run", action="store_true", help="Compute, but write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, since, batch_size, dry_run, no_progress, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        since_at = parse_moment(since, "--since") if since else None
        posts = Post.objects.all()
        if since_at is not None:
            posts = posts.filter(created_at__gte=since_at)
        with tqdm(total=posts.count(), unit="post", disable=no_progress, file=self.stderr._out) as bar:
            result = content_scores_backfill(
                since=since_at, batch_size=batch_size, dry_run=dry_run, on_batch=bar.update
            )
        rate = result.scored / result.seconds if result.seconds else 0.0
        self.stdout.write(
            f"{'dry run: would score' if dry_run else 'scored'} {result.scored} posts "
            f"({result.removed} deleted/moderated at 0) in {result.batches} batches, "
            f"{result.seconds:.2f}s, {rate:.0f} posts/s"
        )
