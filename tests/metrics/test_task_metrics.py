"""Task figures from a real Celery worker process: runs by outcome, retries, run time and the
time a task waited in its queue, counted in the worker and read from the shared directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from prometheus_client import CollectorRegistry, generate_latest

from bellamy.metrics import exposition
from tests.conftest import service_unavailable
from tests.metrics.helpers import parse

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "metricsprobe"


@pytest.fixture
def worker(tmp_path, settings, monkeypatch):
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL).ping()
    except redis.RedisError as exc:
        service_unavailable("Redis", exc)
    directory = tmp_path / "metrics"
    prefix = f"probe{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "CELERY_BROKER_URL": settings.REDIS_URL,
           "BELLAMY_KEY_PREFIX": prefix, "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "bellamy", "worker", "-Q", QUEUE,
             "--include", "tests.metrics.probe_tasks", "--pool", "threads", "--concurrency", "1", "--loglevel", "INFO",
             "-n", f"{prefix}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while b"ready." not in log.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        producer = Celery("probe", broker=settings.REDIS_URL)
        producer.conf.broker_transport_options = {"global_keyprefix": f"{prefix}:celery:"}
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
        yield producer
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)


class _Counted:
    def collect(self):
        return exposition.counted_families()


def counted() -> dict:
    """The counted families of the shared directory (what /metrics would serve of them)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Counted())
    return parse(generate_latest(registry).decode())


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_runs_retries_failures_and_waits_are_counted_per_queue_and_task(worker):
    flaky, broken = "metricsprobe.flaky_task", "metricsprobe.broken_task"

    def ended(task, outcome):
        return counted().get("bellamy_celery_tasks_total", {}).get(
            frozenset({("queue", QUEUE), ("task", task), ("outcome", outcome)}), 0.0)

    # when: a task that fails twice before it succeeds, and one that always fails
    worker.send_task(flaky, args=[2], queue=QUEUE)
    worker.send_task(broken, queue=QUEUE)
    wait_for(lambda: ended(flaky, "success") == 1 and ended(broken, "failure") == 1)

    # then: three runs of the flaky task (two ended in a retry), one failure, two retries
    seen = counted()
    assert seen["bellamy_celery_tasks_total"] == {
        frozenset({("queue", QUEUE), ("task", flaky), ("outcome", "retry")}): 2.0,
        frozenset({("queue", QUEUE), ("task", flaky), ("outcome", "success")}): 1.0,
        frozenset({("queue", QUEUE), ("task", broken), ("outcome", "failure")}): 1.0,
    }
    assert seen["bellamy_celery_task_retries_total"] == {frozenset({("queue", QUEUE), ("task", flaky)}): 2.0}
    assert seen["bellamy_celery_task_duration_seconds_count"] == {
        frozenset({("queue", QUEUE), ("task", flaky)}): 3.0, frozenset({("queue", QUEUE), ("task", broken)}): 1.0}
    # every publication (two by this process, two retries by the worker) waited in the queue
    assert seen["bellamy_celery_task_wait_seconds_count"] == {frozenset({("queue", QUEUE)}): 4.0}
