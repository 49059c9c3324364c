"""``manage.py run_event_forwarder``: the Kafka → Celery forwarder process."""

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bellamy.events.forwarder import Forwarder


class Command(BaseCommand):
    help = (
        "Consume every event topic in consumer group BELLAMY_FORWARDER_GROUP and enqueue the "
        "routed Celery tasks; commits offsets after each batch. Stops cleanly on SIGTERM/SIGINT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-polls", type=int, default=None, help="Stop after N polls.")
        parser.add_argument("--run-for", type=float, default=None, help="Stop after N seconds.")
        parser.add_argument("--until-idle", type=int, default=None, metavar="N",
                            help="Stop after N consecutive empty polls (drain the backlog).")
        parser.add_argument("--group", default=None, help="Consumer group (default BELLAMY_FORWARDER_GROUP).")
        parser.add_argument("--liveness-file", default=str(settings.BASE_DIR / ".data" / "forwarder.alive"),
                            help="File touched after every poll.")

    def handle(self, *args, max_polls, run_for, until_idle, group, liveness_file, **options):
        spec = settings.BELLAMY_EVENTS
        if not spec["BACKEND"].endswith("KafkaBus"):
            raise CommandError("BELLAMY_EVENTS_URL is not a kafka:// URL; the in-process bus needs no forwarder")
        forwarder = Forwarder(
            bootstrap_servers=spec["OPTIONS"]["bootstrap_servers"],
            group_id=group or settings.BELLAMY_FORWARDER_GROUP,
            topic_prefix=spec["OPTIONS"].get("topic_prefix", ""),
            liveness_file=liveness_file,
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: forwarder.stop())
        self.stdout.write(f"forwarder: consuming in group {forwarder.consumer.config['group_id']}")
        stats = forwarder.run(max_polls=max_polls, run_for=run_for, until_idle_polls=until_idle)
        self.stdout.write(
            f"forwarder: stopped after {stats.polls} polls; dispatched {stats.dispatched}, "
            f"dead-lettered {stats.dead_lettered}, commits {stats.commits} "
            f"({stats.commit_failures} skipped during rebalances), dispatch failures {stats.dispatch_failures}"
        )
