"""``manage.py run_event_forwarder``: the Kafka → Celery forwarder process.

A watchdog thread exits the process (status 75) if the consumer loop shows no sign of life for
``--watchdog`` seconds — a Kafka client stuck inside a call it never returns from. The process
manager starts it again and it resumes from the committed offsets (at-least-once; the tasks skip
repeats). Broker outages do not trigger it: the loop keeps retrying and stays alive.
"""

import logging
import os
import signal
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bellamy.events.forwarder import Forwarder


class Command(BaseCommand):
    help = (
        "Consume every event topic in consumer group BELLAMY_FORWARDER_GROUP a batch at a time and "
        "enqueue one Celery task per route per batch; commits offsets after each batch. "
        "Stops cleanly on SIGTERM/SIGINT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-polls", type=int, default=None, help="Stop after N polls.")
        parser.add_argument("--run-for", type=float, default=None, help="Stop after N seconds.")
        parser.add_argument("--until-idle", type=int, default=None, metavar="N",
                            help="Stop after N consecutive empty polls (drain the backlog).")
        parser.add_argument("--group", default=None, help="Consumer group (default BELLAMY_FORWARDER_GROUP).")
        parser.add_argument("--batch-size", type=int, default=None,
                            help="Most records per batch (default BELLAMY_FORWARDER_BATCH_SIZE).")
        parser.add_argument("--batch-wait-ms", type=int, default=None,
                            help="Milliseconds to fill a batch once records arrived "
                                 "(default BELLAMY_FORWARDER_BATCH_WAIT_MS); doubles under load.")
        parser.add_argument("--batch-wait-max-ms", type=int, default=None,
                            help="Longest wait under load (default BELLAMY_FORWARDER_BATCH_WAIT_MAX_MS).")
        parser.add_argument("--watchdog", type=float, default=180.0, metavar="SECONDS",
                            help="Exit (status 75, to be restarted) after this long without progress; 0 disables.")
        parser.add_argument("--liveness-file", default=str(settings.BASE_DIR / ".data" / "forwarder.alive"),
                            help="File touched after every poll.")

    def handle(self, *args, max_polls, run_for, until_idle, group, liveness_file, batch_size, batch_wait_ms,
               batch_wait_max_ms, watchdog, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be >= 1")
        if batch_wait_ms is not None and batch_wait_ms < 0:
            raise CommandError("--batch-wait-ms must be >= 0")
        if batch_wait_max_ms is not None and batch_wait_max_ms < 0:
            raise CommandError("--batch-wait-max-ms must be >= 0")
        spec = settings.BELLAMY_EVENTS
        if not spec["BACKEND"].endswith("KafkaBus"):
            raise CommandError("BELLAMY_EVENTS_URL is not a kafka:// URL; the in-process bus needs no forwarder")
        forwarder = Forwarder(
            bootstrap_servers=spec["OPTIONS"]["bootstrap_servers"],
            group_id=group or settings.BELLAMY_FORWARDER_GROUP,
            topic_prefix=spec["OPTIONS"].get("topic_prefix", ""),
            batch_size=batch_size or settings.BELLAMY_FORWARDER_BATCH_SIZE,
            batch_wait_ms=settings.BELLAMY_FORWARDER_BATCH_WAIT_MS if batch_wait_ms is None else batch_wait_ms,
            batch_wait_max_ms=(settings.BELLAMY_FORWARDER_BATCH_WAIT_MAX_MS if batch_wait_max_ms is None
                               else batch_wait_max_ms),
            liveness_file=liveness_file,
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: forwarder.stop())
        if watchdog > 0:
            threading.Thread(target=_watch, args=(forwarder, watchdog), name="forwarder-watchdog", daemon=True).start()
        self.stdout.write(f"forwarder: consuming in group {forwarder.group_id}")
        stats = forwarder.run(max_polls=max_polls, run_for=run_for, until_idle_polls=until_idle)
        self.stdout.write(
            f"forwarder: stopped after {stats.polls} polls; dispatched {stats.dispatched} events "
            f"in {stats.batches} batches as {stats.tasks} tasks, "
            f"dead-lettered {stats.dead_lettered}, commits {stats.commits} "
            f"({stats.commit_failures} skipped during rebalances), dispatch failures {stats.dispatch_failures}, "
            f"reconnects {stats.reconnects}"
        )


def _watch(forwarder: Forwarder, seconds: float) -> None:
    """Exit the process when ``forwarder``'s loop made no progress for ``seconds``."""
    while True:
        time.sleep(min(5.0, seconds / 4))
        silent = time.monotonic() - forwarder.last_progress
        if silent > seconds:
            logging.getLogger(__name__).critical(
                "forwarder %s: no progress for %.0f s (a Kafka call that never returns); exiting to be restarted",
                forwarder.group_id, silent)
            sys.stderr.flush()
            os._exit(75)
