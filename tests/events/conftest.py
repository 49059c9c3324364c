"""Fixtures of the event-backbone tests: a routing table that points at the recorder task,
and an isolated Kafka bus (its own topic prefix and consumer group per test)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bellamy.events import routes
from bellamy.events.forwarder import Forwarder
from tests.conftest import KAFKA_URL, SESSION_TAG, service_unavailable
from tests.events import recorder

_counter = itertools.count()
ROOT = Path(__file__).resolve().parents[2]
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
    """The Celery queues of a real Redis broker under a private ``BELLAMY_KEY_PREFIX``."""

    def __init__(self, url: str, key_prefix: str):
        import redis

        self.url, self.key_prefix = url, key_prefix
        #: The Celery broker's keys (``CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]``).
        self.prefix = f"{key_prefix}:celery:"
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
        keys = list(self.client.scan_iter(match=f"{self.key_prefix}:*", count=1000))
        if keys:
            self.client.delete(*keys)


@pytest.fixture
def celery_broker():
    """Point Celery (in this process) at the real Redis broker with a private key prefix: tasks
    are enqueued, not run. Yields a :class:`BrokerQueues` (``key_prefix``: the
    ``BELLAMY_KEY_PREFIX`` a worker process needs to share the queues); restores eager Celery
    afterwards."""
    import redis

    from bellamy.celery import app
    from tests.conftest import REDIS_TEST_URL

    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        service_unavailable("Redis", exc)
    key_prefix = f"t{SESSION_TAG}{next(_counter)}"
    prefix = f"{key_prefix}:celery:"
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "broker_transport_options")}
    app.conf.update(broker_url=REDIS_TEST_URL, task_always_eager=False,
                    broker_transport_options={**saved["broker_transport_options"], "global_keyprefix": prefix})
    _drop_broker_connections(app)
    queues = BrokerQueues(REDIS_TEST_URL, key_prefix)
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
    _delete_topics(prefix)


def _delete_topics(prefix: str) -> None:
    """Delete the topics under ``prefix``: a broker shared by many test runs holds open files for
    every partition it keeps, and runs out of them if nobody cleans up."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVERS, request_timeout_ms=10000)
    except Exception:  # the broker is gone (an outage test): nothing to clean
        return
    try:
        ours = [topic for topic in admin.list_topics() if topic.startswith(prefix)]
        if ours:
            admin.delete_topics(ours)
    except Exception:
        pass
    finally:
        admin.close()


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


class WorkerProcess:
    """A real Celery worker (prefork, one pool process) serving queue ``default`` in a subprocess,
    on the test database and the :func:`celery_broker` queues, with the test tasks of
    ``tests.events.worker_tasks`` loaded."""

    def __init__(self, env: dict[str, str], log: Path, name: str):
        self.log = log
        self.name = name
        handle = open(log, "ab")  # noqa: SIM115 (closed by the process's exit)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bellamy", "worker", "-Q", "default", "--pool", "prefork",
             "--concurrency", "1", "-n", f"{name}@%h", "--include", "tests.events.worker_tasks",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90.0) -> WorkerProcess:
        assert wait_until(lambda: b"ready." in self.log.read_bytes() or self.process.poll() is not None,
                          timeout=timeout, interval=0.2), self.tail()
        assert self.process.poll() is None, self.tail()
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool process at once (a crash, an OOM kill, a lost machine)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def start_worker(celery_broker, tmp_path, transactional_db):
    """``start_worker(**env)`` → a ready :class:`WorkerProcess` (every one is stopped at teardown).

    The worker uses this test's database (tests using it need ``transaction=True``), the
    :func:`celery_broker` key prefix, a visibility timeout of 5 s and a retry budget of 5 s unless
    ``env`` says otherwise.
    """
    from tests.live_stack import current_database_url

    started: list[WorkerProcess] = []
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BELLAMY_EVENTS", "CELERY_"))},
        "DJANGO_SETTINGS_MODULE": "bellamy.settings",
        "DATABASE_URL": current_database_url(),
        "CELERY_BROKER_URL": celery_broker.url,
        "BELLAMY_KEY_PREFIX": celery_broker.key_prefix,
        "BELLAMY_TASK_VISIBILITY_TIMEOUT": "5",
        "BELLAMY_TASK_RETRY_BUDGET": "5",
        "BELLAMY_TASK_RETRY_MAX_DELAY": "1",
        "BELLAMY_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }

    def start(**env: str) -> WorkerProcess:
        name = f"{celery_broker.key_prefix}w{len(started)}"
        worker = WorkerProcess({**base, **env}, tmp_path / f"{name}.log", name)
        started.append(worker)
        return worker.wait_ready()

    yield start
    for worker in started:
        worker.stop()
