"""``manage.py events_replay --since ISO [--until ISO] [--type T ...] [--no-relay] [--batch-size N]
[--dry-run]``: send outbox events again.

Every outbox row created at or after ``--since`` (and before ``--until``), of the given types
(default all), sent or not, is marked unsent (``sent_at`` cleared), then the relay
(:func:`bellamy.events.services.relay_all_pending`, as ``manage.py relay_events``) sends them to
the bus again, oldest first per key — unless ``--no-relay``, which leaves them to the periodic
sweep. Envelopes keep their event ids, so tasks that already handled an event skip it
(``ProcessedEvent``) and only the lost deliveries have an effect: replays are safe and the
command is idempotent. Only rows still in the outbox can be replayed (sent rows are pruned after
``BELLAMY_OUTBOX_RETENTION_HOURS``). Batched, progress bar on stderr, one summary line.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from bellamy.commands import parse_moment
from bellamy.events.models import OutboxEvent
from bellamy.events.registry import is_registered
from bellamy.events.services import relay_all_pending


class Command(BaseCommand):
    help = "Mark outbox events created since a time unsent and relay them to the bus again."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True,
                            help="Replay rows created at or after this ISO 8601 time (UTC if naive).")
        parser.add_argument("--until", help="... and before this time (default: no bound).")
        parser.add_argument("--type", dest="types", action="append", default=[], metavar="T",
                            help="Only this event type (repeatable; default all).")
        parser.add_argument("--no-relay", action="store_true", help="Only mark unsent; let the sweep send them.")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--dry-run", action="store_true", help="Count only; change nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, since, until, types, no_relay, batch_size, dry_run, no_progress, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be >= 1")
        unknown = [t for t in types if not is_registered(t)]
        if unknown:
            raise CommandError(f"--type: unregistered event type(s): {', '.join(unknown)}")
        started = time.perf_counter()
        rows = OutboxEvent.objects.filter(created_at__gte=parse_moment(since, "--since"))
        if until:
            rows = rows.filter(created_at__lt=parse_moment(until, "--until"))
        if types:
            rows = rows.filter(type__in=types)
        ids = list(rows.order_by("id").values_list("id", flat=True))
        already_unsent = rows.filter(sent_at__isnull=True).count()
        if dry_run:
            self.stdout.write(f"would replay {len(ids)} outbox events ({already_unsent} not yet sent)")
            return
        with tqdm(total=len(ids), unit="event", disable=no_progress, file=self.stderr._out) as bar:
            for start in range(0, len(ids), batch_size):
                batch = ids[start:start + batch_size]
                with transaction.atomic():
                    OutboxEvent.objects.filter(id__in=batch).update(sent_at=None, last_error="")
                bar.update(len(batch))
        sent = failed = 0
        if not no_relay and ids:
            result = relay_all_pending(batch_size=batch_size)
            sent, failed = result.sent, result.failed
        relayed = "left for the relay sweep" if no_relay else f"relayed {sent}, failed {failed}"
        self.stdout.write(
            f"replayed {len(ids)} outbox events ({already_unsent} were not yet sent): {relayed} "
            f"in {time.perf_counter() - started:.1f} s"
        )
