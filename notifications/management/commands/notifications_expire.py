"""``manage.py notifications_expire [--days N] [--dry-run]``: delete notifications older than
the retention period (``BELLAMY_NOTIFICATION_RETENTION_DAYS``, default 90 days).

MongoDB also expires them itself (TTL index on ``created_at``); the ORM store relies on this
command or the beat task ``notifications.expire_task``. Prints one summary line; exit code 0,
or 1 (CommandError) for a bad argument.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from notifications import services
from notifications.stores import get_notification_store


class Command(BaseCommand):
    help = "Delete notifications created before now - retention (default from settings)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="retention in days (default: the setting)")
        parser.add_argument("--dry-run", action="store_true", help="print the cutoff only; delete nothing")

    def handle(self, *args, days: int | None, dry_run: bool, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be >= 1")
        keep = timedelta(days=days) if days is not None else services.retention()
        cutoff = timezone.now() - keep
        if dry_run:
            self.stdout.write(f"would delete notifications created before {cutoff.isoformat()} "
                              f"({get_notification_store().count()} stored in all)")
            return
        deleted = services.notification_expire(older_than=cutoff)
        self.stdout.write(f"deleted {deleted} notification(s) created before {cutoff.isoformat()}")
