"""``manage.py relay_events``: send unsent outbox rows (once, or in a loop)."""

import signal
import time

from django.core.management.base import BaseCommand

from bellamy.events.services import relay_all_pending


class Command(BaseCommand):
    help = "Send every unsent outbox event to the event bus, oldest first per key."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep sweeping until SIGTERM.")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between sweeps with --loop.")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, loop, interval, batch_size, **options):
        stopping = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.append(True))
        while True:
            result = relay_all_pending(batch_size=batch_size)
            if result.sent or result.failed or not loop:
                self.stdout.write(f"relay: sent {result.sent}, failed {result.failed}, held {result.held}")
            if not loop or stopping:
                return
            time.sleep(interval)
