"""``manage.py analytics_recompute [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--dry-run]``:
recompute the daily statistics of every day in the range (default: from the first day with
any activity to today, UTC), with a progress bar and a summary line. Idempotent."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from analytics.services import analytics_recompute, first_activity_day


def parse_day(raw: str, option: str) -> date:
    """``YYYY-MM-DD`` → date. Raises CommandError for anything else."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"{option}: {raw!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Recompute the daily statistics (analytics) of every day since --since."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="First day, YYYY-MM-DD (default: the first day with activity).")
        parser.add_argument("--until", help="Last day, YYYY-MM-DD (default: today, UTC).")
        parser.add_argument("--dry-run", action="store_true", help="Compute and compare, write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, since=None, until=None, dry_run=False, no_progress=False, **options):
        today = timezone.now().astimezone(UTC).date()
        until_day = parse_day(until, "--until") if until else today
        since_day = parse_day(since, "--since") if since else (first_activity_day() or until_day)
        if since_day > until_day:
            raise CommandError(f"--since {since_day} is after --until {until_day}")
        started = time.monotonic()
        total = (until_day - since_day).days + 1
        with tqdm(total=total, unit="day", disable=no_progress, file=self.stderr._out) as bar:
            result = analytics_recompute(
                since=since_day, until=until_day, dry_run=dry_run, on_progress=lambda _day: bar.update(1)
            )
        self.stdout.write(
            f"analytics_recompute: {result.days} day(s) {since_day}..{until_day}, "
            f"{result.changed} {'would change' if dry_run else 'changed'}"
            f"{' (dry run, nothing written)' if dry_run else ''} in {time.monotonic() - started:.1f}s"
        )
