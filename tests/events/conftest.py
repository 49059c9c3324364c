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
def batches(monkeypatch):
    """Route ``post.created`` to the batch recorder (queue ``default``) and the per-event recorder
    (queue ``graph``), and ``post.liked`` to the batch recorder; yield the batch recorder's list
    of calls (one list of event ids per call)."""
    monkeypatch.setattr(
        routes,
        "ROUTES",
        {
            "post.created": (routes.Route(recorder.BATCH_TASK_NAME, "default"),
                             routes.Route(recorder.TASK_NAME, "graph")),
            "post.liked": (routes.Route(recorder.BATCH_TASK_NAME, "default"),),
        },
    )
    recorder.BATCHES.clear()
    recorder.HANDLED.clear()
    yield recorder.BATCHES
    recorder.BATCHES.clear()
    recorder.HANDLED.clear()


class BrokerQueues:
    """The Celery queues of a real Redis broker under a private key prefix."""

    def __init__(self, url: str, prefix: str):
        import redis

        self.url, self.prefix = url, prefix
        self.client = redis.Redis.from_url(url)

    def messages(self, queue: str) -> list[tuple[str, list[dict]]]:
        """``[(task name, first argument), ...]`` of the messages waiting in ``queue``, oldest first."""
        import base64
        import json

        raw = self.client.lrange(f"{self.prefix}{queue}", 0, -1)
        result = []
        for item in reversed(raw):  # producers LPUSH, consumers BRPOP: the oldest is last
            message = json.loads(item)
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            result.append((message["headers"]["task"], args[0]))
        return result

    def clear(self) -> None:
        """Delete every key under the prefix (only this test's keys)."""
        keys = list(self.client.scan_iter(match=f"{self.prefix}*", count=1000))
        if keys:
            self.client.delete(*keys)


@pytest.fixture
def celery_broker():
    """Point Celery (in this process) at the real Redis broker with a private key prefix: tasks
    are enqueued, not run. Yields a :class:`BrokerQueues`; restores eager Celery afterwards."""
    import redis

    from bellamy.celery import app
    from tests.conftest import REDIS_TEST_URL

    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        service_unavailable("Redis", exc)
    prefix = f"t{SESSION_TAG}{next(_counter)}:celery:"
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "broker_transport_options")}
    app.conf.update(broker_url=REDIS_TEST_URL, task_always_eager=False,
                    broker_transport_options={**saved["broker_transport_options"], "global_keyprefix": prefix})
    _drop_broker_connections(app)
    queues = BrokerQueues(REDIS_TEST_URL, prefix)
    try:
        yield queues
    finally:
        _drop_broker_connections(app)
        app.conf.update(saved)
        queues.clear()


def _drop_broker_connections(app) -> None:
    """Forget the Celery app's broker connection and producer pools (rebuilt from the current
    configuration on next use)."""
    from kombu import pools

    pools.reset()  # closes and forgets every pooled connection and producer
    app._pool = None
    app.amqp._producer_pool = None


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

    def __init__(self, prefix: str, group: str, **options):
        self.forwarder = Forwarder(
            bootstrap_servers=KAFKA_SERVERS, group_id=group, topic_prefix=prefix,
            **{"session_timeout_ms": 6000, "poll_timeout_ms": 200, "retry_pause": 0.2, **options},
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
    """``start_forwarder(group=None, **Forwarder options)`` → a running :class:`ForwarderThread`;
    all are stopped at teardown."""
    started: list[ForwarderThread] = []

    def start(group: str | None = None, **options) -> ForwarderThread:
        thread = ForwarderThread(kafka_bus, group or f"{kafka_bus}forwarder", **options).start()
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
