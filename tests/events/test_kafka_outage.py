"""Fault test: the broker really stops while events are committed; none is lost."""

import subprocess
import time
from pathlib import Path

import pytest
from django.db import transaction

from bellamy.backends import reset_backend
from bellamy.events.models import OutboxEvent
from bellamy.events.services import publish, relay_all_pending
from tests.events.conftest import wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SERVICES = Path(__file__).resolve().parents[2] / "bin" / "services"


def _services(action: str) -> None:
    result = subprocess.run([str(SERVICES), action, "kafka"], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kafka_outage_loses_no_event(handled, kafka_bus, start_forwarder):
    # Given the topics exist and then Kafka is stopped,
    with transaction.atomic():
        warmup = publish("post.created", key=0, data={"warmup": True})
    _services("stop")
    try:
        # when 200 events are committed while it is down,
        started = time.monotonic()
        ids = []
        for n in range(200):
            with transaction.atomic():
                ids.append(publish("post.created", key=n % 7, data={"n": n}).id)
        publish_seconds = time.monotonic() - started
        # then every one is kept in the outbox (unsent), and requests were not blocked for long.
        sent_while_down = list(OutboxEvent.objects.filter(sent_at__isnull=False).exclude(event_id=warmup.id)
                               .values_list("payload__data__n", "attempts"))
        assert sent_while_down == []
        assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 200
        assert publish_seconds < 60, publish_seconds
    finally:
        _services("start")
    # When Kafka is back and the sweep and the forwarder run,
    # (the periodic sweep: the broker may still be electing partition leaders at first)
    reset_backend("BELLAMY_EVENTS")
    sent = 0

    def sweep() -> bool:
        nonlocal sent
        sent += relay_all_pending().sent
        return not OutboxEvent.objects.filter(sent_at__isnull=True).exists()

    assert wait_until(sweep, timeout=120, interval=1.0)
    forwarder = start_forwarder()
    assert wait_until(lambda: len(handled) >= 201, timeout=90)
    forwarder.stop()
    # then all 200 (and the warm-up) were processed exactly once, in order per key.
    assert sent == 200
    assert sorted(h[0] for h in handled) == sorted([warmup.id, *ids])
    for key in range(7):
        assert [h[0] for h in handled if h[2] == str(key) and h[3].get("n") is not None] == ids[key::7]


@pytest.mark.timeout(900)
def test_forwarder_outlives_a_broker_outage_and_a_new_group_reads_from_the_earliest_offset(
    handled, kafka_bus, start_forwarder
):
    # Given a running forwarder that has handled 20 events,
    first = start_forwarder()
    before = []
    for n in range(20):
        with transaction.atomic():
            before.append(publish("post.created", key=n % 4, data={"n": n}).id)
    assert wait_until(lambda: len(handled) == 20, timeout=60)
    # when Kafka really stops, events are committed meanwhile, and a second forwarder of a new
    # consumer group is started while the broker is down,
    _services("stop")
    try:
        during = []
        for n in range(20, 50):
            with transaction.atomic():
                during.append(publish("post.created", key=n % 4, data={"n": n}).id)
        late = start_forwarder(group=f"{kafka_bus}late")
        time.sleep(15)  # both forwarders poll a dead broker for a while
        assert first.thread.is_alive() and late.thread.is_alive()
        assert (first.error, late.error) == (None, None)
    finally:
        _services("start")
    # and once it is back (the outbox sweep sends what was committed meanwhile),
    reset_backend("BELLAMY_EVENTS")
    def sweep() -> bool:
        relay_all_pending()
        return not OutboxEvent.objects.filter(sent_at__isnull=True).exists()

    assert wait_until(sweep, timeout=180, interval=1.0)
    after = []
    for n in range(50, 70):
        with transaction.atomic():
            after.append(publish("post.created", key=n % 4, data={"n": n}).id)
    every = [*before, *during, *after]
    # then the first forwarder resumed where it had committed, and the new group read every event
    # from the earliest offset, including those written before it joined: 70 once per group.
    assert wait_until(lambda: len(handled) >= 70 and first.forwarder.stats.dispatched >= 70
                      and late.forwarder.stats.dispatched >= 70, timeout=240, interval=0.5), (
        len(handled), first.forwarder.stats, late.forwarder.stats)
    stats = [first.stop(), late.stop()]
    # (two groups feeding one task: it ran once per event, whichever group delivered it first;
    # a batch interrupted by the outage is read again, so a group may dispatch an event twice)
    assert sorted(h[0] for h in handled) == sorted(every)
    assert all(s.dispatched >= 70 for s in stats), stats
    assert stats[0].assignments >= 1 and stats[1].assignments >= 1
