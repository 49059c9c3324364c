"""The demo's live phase runs under the stack's process manager (``deploy.stack.Stack``, issue
15/16: one process runner for ``bin/stack``, the demo and ``tests/live_stack.py``), in the
demo's namespace, and waits until every routed task of every event ran, batches included."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from bellamy.events.models import OutboxEvent, ProcessedEvent
from bellamy.events.routes import ROUTES
from demo import pipeline
from deploy.stack import BIN, QUEUES
from tests.conftest import KAFKA_URL, MONGO_URL
from tests.demo.test_demo_run import DATASETS, expected_likers, node_of_author, raw_edges, raw_tweets
from tests.live_stack import _redis_server, current_database_url

ROOT = Path(__file__).resolve().parents[2]
KAFKA_BUS = {"BACKEND": "bellamy.events.backends.kafka.KafkaBus",
             "OPTIONS": {"bootstrap_servers": ["127.0.0.1:9092"], "topic_prefix": "demo."}}


def test_the_embedded_default_runs_no_programs(settings, tmp_path):
    # given: in-process bus, eager Celery
    settings.BELLAMY_EVENTS = {"BACKEND": "bellamy.events.backends.inprocess.InProcessBus", "OPTIONS": {}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # then
    assert pipeline.pipeline_stack(run_dir=tmp_path, environ={}) is None
    assert pipeline.worker_nodes(None) == []


def test_the_production_stack_runs_a_worker_per_queue_and_the_forwarder_in_the_settings_namespace(settings, tmp_path):
    # given: Kafka bus, Celery on a broker, namespace "demo"
    settings.BELLAMY_EVENTS = KAFKA_BUS
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.BELLAMY_NAMESPACE = "demo"
    environ = {"DATABASE_URL": "postgres://u:p@h:5432/bellamy_demo", "CELERY_BROKER_URL": "redis://h:6379/1",
               "BELLAMY_NAMESPACE": "demo"}

    # when
    stack = pipeline.pipeline_stack(run_dir=tmp_path, environ=environ)

    # then: the programs of bin/stack minus web and beat, logs and socket in run_dir
    assert [(p.name, p.kind) for p in stack.programs] == [
        *((f"worker-{queue}", "worker") for queue in QUEUES), ("forwarder", "forwarder")]
    scoring = stack.programs[0]
    assert scoring.command == (str(BIN / "celery"), "-A", "bellamy", "worker", "-Q", "scoring",
                               "-n", "scoring.demo@%h", "--pool", "threads", "--concurrency", "4", "--loglevel",
                               "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat")
    assert (stack.config.run_dir, stack.config.log_dir) == (tmp_path, tmp_path)
    # and: the programs read the demo process's environment, so they derive the same names
    assert stack.env == environ
    assert pipeline.worker_nodes(stack) == [f"{queue}.demo@{socket.gethostname()}" for queue in QUEUES]


def test_with_kafka_and_eager_celery_only_the_forwarder_runs(settings, tmp_path):
    settings.BELLAMY_EVENTS = KAFKA_BUS
    settings.CELERY_TASK_ALWAYS_EAGER = True
    stack = pipeline.pipeline_stack(run_dir=tmp_path, environ={})
    assert [p.name for p in stack.programs] == ["forwarder"]
    assert pipeline.worker_nodes(stack) == []


def processes_naming(text: str) -> list[str]:
    """Command lines of the running processes that contain ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_live_phase_on_the_production_stack_drains_every_routed_task_of_every_event(tmp_path):
    # given: a namespace of its own, Kafka, Celery on Redis, MongoDB; the ORM graph store (the
    # projection rebuild deletes its users' ids from a shared Neo4j); this test's database
    namespace = f"demotest{uuid.uuid4().hex[:8]}"
    tweets = raw_tweets(20)
    authors = {node_of_author(row["author_id"]) for row in tweets}
    with open(DATASETS / "ego_facebook" / "facebook_combined.txt") as source:
        (tmp_path / "edges.txt").write_text("".join(line for line in source if {int(n) for n in line.split()} & authors))
    _nodes, edges = raw_edges()
    friends: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        friends[a].add(b)
        friends[b].add(a)
    live_likes = sum(len(expected_likers(row, friends)) for row in tweets[-6:])
    redis = _redis_server()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BELLAMY_", "CELERY_", "REDIS_"))},
        "DJANGO_DEBUG": "0", "DATABASE_URL": current_database_url(), "DATABASE_REPLICA_URL": "",
        "REDIS_URL": f"redis://{redis}/10", "CELERY_BROKER_URL": f"redis://{redis}/11",
        "BELLAMY_EVENTS_URL": KAFKA_URL, "BELLAMY_NOTIFICATIONS_URL": MONGO_URL, "BELLAMY_GRAPH_URL": "",
        "BELLAMY_NAMESPACE": namespace, "BELLAMY_LOG_LEVEL": "WARNING",
    }
    run_dir = ROOT / ".data" / "logs" / f"demo-{namespace}"

    # when: the demo runs with the newest 6 of 20 tweets live
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "demo_run", "--subset", "20", "--live-posts", "6", "--messages", "0",
             "--edges", str(tmp_path / "edges.txt"), "--no-progress", "--no-analytics", "--drain-timeout", "300"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:] + "\n" + "\n".join(
            f"--- {log.name}\n" + log.read_text(errors="replace")[-1500:] for log in sorted(run_dir.glob("*.log")))

        # then: it ran the stack's programs under supervisord, in its namespace
        programs = ", ".join([*(f"worker-{queue}" for queue in QUEUES), "forwarder"])
        assert f"starting {programs} under supervisord (namespace {namespace!r}; logs in {run_dir})" in output
        assert "Bellamy Book demo report — production stack" in output
        # and: when it reported the backlog drained, every event's every routed task had run —
        # the live posts' and likes' events, and the follow-ups the workers published
        events = dict(OutboxEvent.objects.values_list("event_id", "type"))
        kinds = list(events.values())
        assert (kinds.count("post.created"), kinds.count("post.liked")) == (6, live_likes)
        assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 0
        expected = {(str(event), route.task) for event, kind in events.items() for route in ROUTES.get(kind, ())}
        assert {(str(e), t) for e, t in ProcessedEvent.objects.values_list("event_id", "task_name")} == expected
        # and: every program it started is gone
        assert processes_naming(namespace) == []
    finally:
        from pymongo import MongoClient

        client = MongoClient(MONGO_URL, serverSelectionTimeoutMS=3000)
        client.drop_database(namespace)
        client.close()
        shutil.rmtree(run_dir, ignore_errors=True)
