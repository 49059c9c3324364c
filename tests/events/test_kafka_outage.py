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
