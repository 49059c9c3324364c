"""Fixtures of the event-backbone tests: a routing table that points at the recorder task,
and an isolated Kafka bus (its own topic prefix and consumer group per test)."""

import itertools
import threading
import time

import pytest

from bellamy.events import routes
from bellamy.events.forwarder import Forwarder
from tests.conftest import KAFKA_URL, SESSION_TAG, service_unavailable
from tests.events import recorder

_counter = itertools.count()
KAFKA_SERVERS = KAFKA_URL.removeprefix("kafka://").split(",")


@pytest.fixture
def handled(monkeypatch):
    """Route ``post.created`` and ``post.liked`` to the recorder; yield its list of handled events."""
    monkeypatch.setattr(
        routes,
        "ROUTES",
        {
            "post.created": (routes.Route(recorder.TASK_NAME, "default"),),
            "post.liked": (routes.Route(recorder.TASK_NAME, "default"),),
        },
    )
    recorder.HANDLED.clear()
    yield recorder.HANDLED
    recorder.HANDLED.clear()


@pytest.fixture
def kafka_bus(settings):
    """Switch the event bus to the real Kafka broker with a fresh topic prefix.

    Yields the prefix; the forwarder fixtures use the same one.
    """
    from kafka import KafkaAdminClient

    try:
        KafkaAdminClient(bootstrap_servers=KAFKA_SERVERS, request_timeout_ms=5000).close()
    except Exception as exc:
        service_unavailable("Kafka", exc)
    prefix = f"t{SESSION_TAG}{next(_counter)}."
    settings.BELLAMY_TOPIC_PREFIX = prefix
    settings.BELLAMY_OUTBOX_RELAY = "inline"
    settings.BELLAMY_EVENTS = {
        "BACKEND": "bellamy.events.backends.kafka.KafkaBus",
        "OPTIONS": {"bootstrap_servers": KAFKA_SERVERS, "topic_prefix": prefix},
    }
    yield prefix


class ForwarderThread:
    """A :class:`Forwarder` running in a background thread until stopped."""

    def __init__(self, prefix: str, group: str):
        self.forwarder = Forwarder(
            bootstrap_servers=KAFKA_SERVERS, group_id=group, topic_prefix=prefix,
            session_timeout_ms=6000, poll_timeout_ms=200, retry_pause=0.2,
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self):
        from django.db import connection

        try:
            self.forwarder.run(run_for=120)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            connection.close()

    def start(self) -> "ForwarderThread":
        self.thread.start()
        return self

    def stop(self):
        self.forwarder.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "forwarder did not stop within 30 s"
        if self.error:
            raise self.error
        return self.forwarder.stats


@pytest.fixture
def start_forwarder(kafka_bus):
    """``start_forwarder(group=None)`` → a running :class:`ForwarderThread`; all are stopped at teardown."""
    started: list[ForwarderThread] = []

    def start(group: str | None = None) -> ForwarderThread:
        thread = ForwarderThread(kafka_bus, group or f"{kafka_bus}forwarder").start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        if thread.thread.is_alive():
            thread.forwarder.stop()
            thread.thread.join(timeout=30)


def wait_until(condition, *, timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
