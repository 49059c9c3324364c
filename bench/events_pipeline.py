"""Benchmark: real ``post.created`` events through the forwarder and every routed worker task.

What is measured (one run, shared baseline):

1. **Throughput with 1, 2 and 4 worker processes.** A backlog of ``--events`` posts is created
   with ``posts.services.post_create`` (authors with ``--friends`` friends, hashtags and a mention
   each), so ``--events`` real ``post.created`` envelopes sit in Kafka. Then ``W`` Celery worker
   processes (each serving every queue, prefork, one pool process) and the forwarder start, and
   the clock runs from the forwarder group's assignment until every routed task of
   ``post.created`` (``bellamy/events/routes.py``: scoring, graph, notifications, trends, cache
   invalidation, ...) has handled every event (its ``ProcessedEvent`` rows). Events/s = events /
   seconds; the handlers are whatever the routes name today. Then once more with the largest
   worker count and the notifications in the ORM store (PostgreSQL) instead of the MongoDB
   server: the MongoDB server here is a Python stand-in (../shared/SERVICES.md), and this round
   shows what the pipeline does without its share (``--no-orm-round`` skips it).
2. **Baseline**: raw kafka-python consume of the same records (the first round's topic, a fresh
   group, a commit per poll like the forwarder), from the assignment to the last record. Next to
   it, the **backbone alone**: a fresh forwarder group reading the same records into a no-op
   batch task (eager, in this process) — consume, decode, group by route, one idempotency claim
   per batch, commit: the ceiling the real handlers run under.
3. **Sustained rate** (``--rate`` posts/s for ``--duration`` s, ``--sustained-workers`` processes,
   one ``post_create`` transaction per post from 8 posting threads, background outbox relay as in
   production): how long
   after the last post's commit the outbox, the consumer lag (committed vs end offsets of the
   forwarder's group) and the Celery queues (waiting and unacknowledged messages) are back to zero,
   and every task has run.

Stores: PostgreSQL database ``bellamy_bench_pipeline`` (from ``DATABASE_URL``'s server), MongoDB
notifications (database ``bellamy_bench_pipe_<tag>``, dropped at the end), the ORM graph store
unless ``--graph-url`` is given, Redis broker ``BELLAMY_BENCH_BROKER_URL`` (default: the server of
``REDIS_URL``, DB 13) under a private key prefix, Kafka ``BELLAMY_BENCH_KAFKA`` (default
``127.0.0.1:9092``) under a private topic prefix per round. Nothing shared is flushed.

Run: ``.venv/bin/python bench/events_pipeline.py [--events 2000] [--workers 1,2,4] [--rate 50
--duration 60] [--no-sustained]`` with the services of ``bin/services`` running. The machine is
shared: read the ratios; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from _common import NOTIFICATION_STORES, ROOT, Timer, create_database, emit, notification_store_env, print_table

BENCH_DB = "bellamy_bench_pipeline"
QUEUES = ("scoring", "graph", "notifications", "trends", "default")
TAG = uuid.uuid4().hex[:8]
RUN_STARTED = None  # set by main(): dead letters stored after it are this run's


# --- environment ----------------------------------------------------------------------------------
def prepare_environment(args) -> dict[str, str]:
    """Set this process's environment (before Django starts) and return the workers' environment."""
    database = os.environ.get("DATABASE_URL", "postgres://bellamy:bellamy@127.0.0.1:5432/bellamy")
    if not database.startswith(("postgres://", "postgresql://")):
        sys.exit("DATABASE_URL must be a postgres:// URL (the benchmark needs PostgreSQL)")
    database = urlunsplit(urlsplit(database)._replace(path=f"/{BENCH_DB}"))
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/12"
    broker = os.environ.get("BELLAMY_BENCH_BROKER_URL") or urlunsplit(urlsplit(redis_url)._replace(path="/13"))
    kafka = os.environ.get("BELLAMY_BENCH_KAFKA", "127.0.0.1:9092")
    env = {
        "DJANGO_SETTINGS_MODULE": "bellamy.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789"),
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": broker,
        "BELLAMY_KEY_PREFIX": f"benchpipe{TAG}",
        "BELLAMY_EVENTS_URL": f"kafka://{kafka}",
        "BELLAMY_NOTIFICATIONS_URL": os.environ.get("BELLAMY_BENCH_MONGO_URL", "mongodb://127.0.0.1:27017"),
        "BELLAMY_MONGO_DATABASE": f"bellamy_bench_pipe_{TAG}",
        "BELLAMY_GRAPH_URL": args.graph_url or "",
        "BELLAMY_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # The sustained phase's 8 posting threads each hold a pooled connection while they
        # post; with the default pool of 4 they starved the background outbox relay (pool
        # timeouts), so nothing was relayed and the queues could never drain.
        "BELLAMY_DB_POOL_MAX": "12",
    }
    os.environ.update(env)
    create_database(database)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("BELLAMY_", "CELERY_"))}, **env}


def use_topic_prefix(prefix: str) -> None:
    """Point this process's event bus at Kafka under ``prefix`` and create the topics."""
    from django.conf import settings

    from bellamy.backends import get_backend, reset_backend

    settings.BELLAMY_TOPIC_PREFIX = prefix
    settings.BELLAMY_EVENTS = {
        "BACKEND": "bellamy.events.backends.kafka.KafkaBus",
        "OPTIONS": {"bootstrap_servers": kafka_servers(), "topic_prefix": prefix},
    }
    reset_backend("BELLAMY_EVENTS")
    get_backend("BELLAMY_EVENTS").ensure_topics()


def kafka_servers() -> list[str]:
    return os.environ["BELLAMY_EVENTS_URL"].removeprefix("kafka://").split(",")


# --- data ---------------------------------------------------------------------------------------
def make_people(authors: int, friends: int) -> list:
    """``authors`` users, each befriended with ``friends`` others (bulk, no events); returns the authors."""
    from django.contrib.auth import get_user_model

    from graph.models import Friendship

    User = get_user_model()  # noqa: N806
    total = authors * (friends + 1)
    existing = User.objects.filter(username__startswith="pipe").count()
    if existing < total:
        User.objects.bulk_create([User(username=f"pipe{n}", email=f"pipe{n}@example.org", display_name=f"Pipe {n}")
                                  for n in range(existing, total)], ignore_conflicts=True)
    users = list(User.objects.filter(username__startswith="pipe").order_by("id")[:total])
    chosen = users[:authors]
    pairs = []
    for a, author in enumerate(chosen):
        for f in range(friends):
            friend = users[authors + (a * friends + f) % (total - authors)]
            pairs.append(Friendship(user_low_id=min(author.pk, friend.pk), user_high_id=max(author.pk, friend.pk)))
    Friendship.objects.bulk_create(pairs, ignore_conflicts=True)
    return chosen


def post_content(n: int, authors: list) -> str:
    mentioned = authors[(n * 7 + 3) % len(authors)].username
    return f"bench post {n} about #pipeline and #topic{n % 10}, hello @{mentioned}"


def create_backlog(authors: list, events: int, per_transaction: int = 50) -> int:
    """Create ``events`` posts (``per_transaction`` per transaction, inline relay); returns the
    first outbox id of the round."""
    from django.conf import settings
    from django.db import transaction

    from bellamy.events.models import OutboxEvent
    from posts.services import post_create

    settings.BELLAMY_OUTBOX_RELAY = "inline"
    first = (OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    for start in range(0, events, per_transaction):
        with transaction.atomic():
            for n in range(start, min(events, start + per_transaction)):
                post_create(author=authors[n % len(authors)], content=post_content(n, authors))
    unsent = OutboxEvent.objects.filter(id__gte=first, sent_at__isnull=True).count()
    if unsent:
        from bellamy.events.services import relay_all_pending

        relay_all_pending()
    return first


def handled_count(first_outbox_id: int) -> int:
    """Routed-task runs of this round's ``post.created`` events (``ProcessedEvent`` rows)."""
    from bellamy.events import routes
    from bellamy.events.models import OutboxEvent, ProcessedEvent

    ids = OutboxEvent.objects.filter(id__gte=first_outbox_id, type="post.created").values("event_id")
    names = [route.task for route in routes.ROUTES["post.created"]]
    return ProcessedEvent.objects.filter(event_id__in=ids, task_name__in=names).count()


def dead_letters() -> int:
    """Dead letters stored during this run (a handler failing for good stops a measurement)."""
    from bellamy.events.models import DeadLetter

    return DeadLetter.objects.filter(created_at__gte=RUN_STARTED).count()


# --- processes ------------------------------------------------------------------------------------
class Workers:
    """``count`` Celery worker processes serving every queue (prefork, one pool process each)."""

    def __init__(self, env: dict[str, str], count: int, topic_prefix: str, log_dir: Path):
        self.processes = []
        self.names = []
        for n in range(count):
            name = f"bench{TAG}w{n}-{topic_prefix.rstrip('.')}"
            log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "bellamy", "worker", "-Q", ",".join(QUEUES), "-n",
                 f"{name}@%h", "--pool", "prefork", "--concurrency", "1", "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "--loglevel", "WARNING"],
                cwd=ROOT, env={**env, "BELLAMY_TOPIC_PREFIX": topic_prefix, "BELLAMY_OUTBOX_RELAY": "background"},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            self.names.append(f"{name}@")

    def wait_ready(self, timeout: float = 120) -> None:
        from bellamy.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                sys.exit("a worker exited at start; see its log")
            answered = {name for reply in app.control.ping(timeout=1.0) for name in reply}
            if all(any(a.startswith(n) for a in answered) for n in self.names):
                return
        sys.exit("workers not ready in time")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def start_forwarder(prefix: str):
    from django.conf import settings

    from bellamy.events.forwarder import Forwarder

    forwarder = Forwarder(bootstrap_servers=kafka_servers(), group_id=f"{prefix}forwarder", topic_prefix=prefix,
                          batch_size=settings.BELLAMY_FORWARDER_BATCH_SIZE,
                          batch_wait_ms=settings.BELLAMY_FORWARDER_BATCH_WAIT_MS,
                          batch_wait_max_ms=settings.BELLAMY_FORWARDER_BATCH_WAIT_MAX_MS, poll_timeout_ms=100)
    thread = threading.Thread(target=forwarder.run, kwargs={"run_for": 3600}, daemon=True)
    thread.start()
    return forwarder, thread


def wait_assigned(forwarder) -> float:
    """``perf_counter()`` right after ``forwarder``'s group assigned it partitions (1 ms resolution)."""
    while not forwarder.assigned:
        time.sleep(0.001)
    return time.perf_counter()


def broker_depth() -> tuple[int, int]:
    """``(waiting, unacknowledged)`` task messages under this run's broker key prefix."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    waiting = sum(client.llen(f"{prefix}{queue}") for queue in QUEUES)
    return waiting, client.hlen(f"{prefix}unacked")


class Lag:
    """Consumer lag of a group over the topics of ``prefix``: end offsets minus committed offsets."""

    def __init__(self, prefix: str, group: str):
        from kafka import KafkaAdminClient, KafkaConsumer

        from bellamy.events.registry import all_topics

        self.group = group
        self.admin = KafkaAdminClient(bootstrap_servers=kafka_servers())
        self.consumer = KafkaConsumer(bootstrap_servers=kafka_servers(), group_id=None)
        from kafka.structs import TopicPartition

        self.partitions = [TopicPartition(t, p) for t in all_topics(prefix=prefix)
                           for p in (self.consumer.partitions_for_topic(t) or ())]

    def __call__(self) -> int:
        committed = self.admin.list_group_offsets(self.group).get(self.group, {})
        ends = self.consumer.end_offsets(self.partitions)
        return sum(max(0, end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
                   for tp, end in ends.items())

    def close(self) -> None:
        self.admin.close()
        self.consumer.close()


# --- measurements ---------------------------------------------------------------------------------
def throughput(env: dict, authors: list, events: int, workers: int, log_dir: Path, store: str = "mongodb") -> dict:
    """Drain a backlog of ``events`` post.created events with ``workers`` worker processes whose
    notification store is ``store`` (``mongodb``: the MongoDB server; ``orm``: PostgreSQL)."""
    from bellamy.events import routes

    env = {**env, **notification_store_env(store)}
    prefix = f"benchpipe{TAG}w{workers}{store}."
    use_topic_prefix(prefix)
    first = create_backlog(authors, events)
    expected = events * len(routes.ROUTES["post.created"])
    pool = Workers(env, workers, prefix, log_dir)
    try:
        pool.wait_ready()
        forwarder, thread = start_forwarder(prefix)
        started = wait_assigned(forwarder)
        deadline = started + 900
        while handled_count(first) < expected and time.perf_counter() < deadline and not dead_letters():
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        done = handled_count(first)
        forwarder.stop()
        thread.join(timeout=30)
    finally:
        pool.stop()
    return {"workers": workers, "store": store, "events": events, "task_runs": done, "expected_task_runs": expected,
            "seconds": seconds, "events_per_second": events / seconds, "task_runs_per_second": done / seconds,
            "batches": forwarder.stats.batches, "tasks_enqueued": forwarder.stats.tasks}


def raw_consume(topic: str, events: int) -> dict:
    """kafka-python consume of ``events`` records of ``topic`` (the backlog a throughput round read)
    in a fresh group, committing after each poll like the forwarder; from the group's assignment
    to the last record (the clock of every figure here)."""
    from kafka import KafkaConsumer

    from kafka import ConsumerRebalanceListener

    assigned_at: list[float] = []

    class Clock(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            pass

        def on_partitions_assigned(self, assigned):
            assigned_at.append(time.perf_counter())

    consumer = KafkaConsumer(bootstrap_servers=kafka_servers(), group_id=f"{topic}-raw{TAG}",
                             auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=500)
    consumer.subscribe([topic], listener=Clock())
    received = 0
    deadline = time.monotonic() + 300
    while received < events and time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=100)
        received += sum(len(records) for records in batch.values())
        if batch:
            consumer.commit()
    seconds = time.perf_counter() - assigned_at[0]
    consumer.close()
    return {"events": received, "seconds": seconds, "per_second": received / seconds}


def framework_ceiling(prefix: str, events: int) -> dict:
    """The backbone alone: a fresh forwarder group reads the same backlog and hands each batch to a
    no-op batch task run in this process (eager Celery): Kafka consume, decode, group by route,
    one idempotency claim per batch, commit. The ceiling the real handlers run under."""
    from bellamy.celery import app
    from bellamy.events import routes
    from bellamy.events.idempotency import batch_task
    from bellamy.events.models import ProcessedEvent

    @batch_task(name=f"bench.noop_batch_task_{TAG}")
    def noop(envelopes):
        return len(envelopes)

    saved_routes, saved_eager = routes.ROUTES, app.conf.task_always_eager
    routes.ROUTES = {"post.created": (routes.Route(noop.name, "default"),)}
    app.conf.task_always_eager = True
    try:
        from bellamy.events.forwarder import Forwarder

        forwarder = Forwarder(bootstrap_servers=kafka_servers(), group_id=f"{prefix}ceiling", topic_prefix=prefix,
                              batch_size=500, batch_wait_ms=20, poll_timeout_ms=100)
        thread = threading.Thread(target=forwarder.run, kwargs={"run_for": 600}, daemon=True)
        thread.start()
        started = wait_assigned(forwarder)
        while ProcessedEvent.objects.filter(task_name=noop.name).count() < events and thread.is_alive():
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        forwarder.stop()
        thread.join(timeout=30)
    finally:
        routes.ROUTES, app.conf.task_always_eager = saved_routes, saved_eager
    return {"events": events, "seconds": seconds, "per_second": events / seconds, "batches": forwarder.stats.batches}


def sustained(env: dict, authors: list, rate: float, duration: float, workers: int, log_dir: Path,
              drain_timeout: float, store: str = "mongodb") -> dict:
    """Post at ``rate`` per second for ``duration`` s; time the drain after the last post. The
    workers' notification store is ``store`` (as in :func:`throughput`)."""
    from django.conf import settings

    from bellamy.events import routes
    from bellamy.events.models import OutboxEvent
    from posts.services import post_create

    env = {**env, **notification_store_env(store)}
    prefix = f"benchpipe{TAG}s{store}."
    use_topic_prefix(prefix)
    settings.BELLAMY_OUTBOX_RELAY = "background"
    first = (OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    pool = Workers(env, workers, prefix, log_dir)
    lag = None
    try:
        pool.wait_ready()
        forwarder, thread = start_forwarder(prefix)
        while not forwarder.assigned:
            time.sleep(0.05)
        lag = Lag(prefix, f"{prefix}forwarder")
        total = int(rate * duration)
        behind = 0.0
        finished: list[float] = []

        def create(n: int) -> None:
            from django.db import connection

            try:
                post_create(author=authors[n % len(authors)], content=post_content(10_000_000 + n, authors))
            finally:
                # As at the end of a request: the posting thread's connection goes back to the pool
                # (threads of an earlier round kept theirs, and the relay timed out waiting).
                connection.close()
            finished.append(time.perf_counter())

        # Several posters, as several web requests at once: one slow commit does not hold the rate.
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as posters:
            for n in range(total):
                due = started + n / rate
                now = time.perf_counter()
                if due > now:
                    time.sleep(due - now)
                else:
                    behind = max(behind, now - due)
                posters.submit(create, n)
        last_post = max(finished)
        achieved = len(finished) / (last_post - started)
        expected = total * len(routes.ROUTES["post.created"])
        marks: dict[str, float | None] = {"outbox": None, "lag": None, "queues": None, "all tasks": None}
        deadline = last_post + drain_timeout
        while time.perf_counter() < deadline and None in marks.values():
            now = time.perf_counter() - last_post
            if marks["outbox"] is None and not OutboxEvent.objects.filter(id__gte=first, sent_at__isnull=True).exists():
                marks["outbox"] = now
            if marks["outbox"] is not None and marks["lag"] is None and lag() == 0:
                marks["lag"] = now
            if marks["lag"] is not None and marks["queues"] is None and broker_depth() == (0, 0):
                marks["queues"] = now
            if marks["all tasks"] is None and handled_count(first) >= expected:
                marks["all tasks"] = now
            if dead_letters():
                break
            time.sleep(0.05)
        forwarder.stop()
        thread.join(timeout=30)
    finally:
        if lag is not None:
            lag.close()
        pool.stop()
    return {"store": store, "rate": rate, "duration": duration, "workers": workers, "posts": total, "achieved_rate": achieved,
            "max_behind_schedule_s": behind, "drained_after_s": marks,
            "all_clear_after_s": max((v for v in marks.values() if v is not None), default=None)
            if None not in marks.values() else None}


def cleanup() -> None:
    """Drop this run's MongoDB database and broker keys, and its Kafka topics."""
    import redis
    from django.conf import settings
    from kafka import KafkaAdminClient
    from pymongo import MongoClient

    MongoClient(os.environ["BELLAMY_NOTIFICATIONS_URL"], serverSelectionTimeoutMS=3000).drop_database(
        os.environ["BELLAMY_MONGO_DATABASE"])
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = list(client.scan_iter(match=f"{settings.BELLAMY_KEY_PREFIX}:*", count=1000))
    if keys:
        client.delete(*keys)
    admin = KafkaAdminClient(bootstrap_servers=kafka_servers())
    try:
        ours = [t for t in admin.list_topics() if t.startswith(f"benchpipe{TAG}")]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()


def main() -> dict:
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="backlog size of each throughput round")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts of the throughput rounds")
    parser.add_argument("--authors", type=int, default=100)
    parser.add_argument("--friends", type=int, default=20, help="friends of each author (notification fan-out)")
    parser.add_argument("--rate", type=float, default=50.0, help="posts per second of the sustained run")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the sustained run")
    parser.add_argument("--sustained-workers", type=int, default=4)
    parser.add_argument("--drain-timeout", type=float, default=300.0,
                        help="seconds to wait for the sustained run's backlog to drain")
    parser.add_argument("--no-sustained", action="store_true")
    parser.add_argument("--no-orm-round", action="store_true",
                        help="skip the round with the ORM notification store (the MongoDB server's share)")
    parser.add_argument("--graph-url", default="", help="bolt:// URL to use the Neo4j graph store (default ORM)")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n]
    env = prepare_environment(args)
    global RUN_STARTED
    from django.utils import timezone

    # kafka-python warns about a busy event loop on a loaded machine; nothing to act on here.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    RUN_STARTED = timezone.now()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    results: dict = {"load_average_start": os.getloadavg(), "pipeline": []}
    try:
        authors = make_people(args.authors, args.friends)
        for workers in counts:
            print(f"throughput with {workers} worker process(es) ...", flush=True)
            results["pipeline"].append(throughput(env, authors, args.events, workers, log_dir))
        if not args.no_orm_round:
            print(f"throughput with {counts[-1]} worker process(es), notifications in the ORM store ...", flush=True)
            results["pipeline"].append(throughput(env, authors, args.events, counts[-1], log_dir, store="orm"))
        first_prefix = f"benchpipe{TAG}w{counts[0]}mongodb."
        print("raw kafka-python consume of the same backlog ...", flush=True)
        results["raw"] = raw_consume(f"{first_prefix}post.created", args.events)
        print("backbone alone (no-op batch task) ...", flush=True)
        results["framework"] = framework_ceiling(first_prefix, args.events)
        if not args.no_sustained:
            print(f"sustained {args.rate:g} posts/s for {args.duration:g} s ...", flush=True)
            results["sustained"] = [
                sustained(env, authors, args.rate, args.duration, args.sustained_workers, log_dir,
                          args.drain_timeout, store=store)
                for store in (("mongodb",) if args.no_orm_round else NOTIFICATION_STORES)]
    finally:
        cleanup()
    results["load_average_end"] = os.getloadavg()
    results["dead_letters"] = dead_letters()
    report(results, args)
    emit(results)
    return results


def report(results: dict, args) -> None:
    if results["dead_letters"]:
        print(f"\n!! {results['dead_letters']} dead letter(s) stored during the run: the figures are incomplete")
    raw = results["raw"]["per_second"]
    f = results["framework"]
    rows = [("raw kafka-python consume", "", raw, 1.0, "", ""),
            ("backbone alone: forwarder + no-op batch task", "", f["per_second"], f["per_second"] / raw, "",
             f["batches"])]
    for r in results["pipeline"]:
        store = "" if r["store"] == "mongodb" else ", notifications in PostgreSQL (ORM store)"
        rows.append((f"pipeline, {r['workers']} worker process(es){store}", r["workers"], r["events_per_second"],
                     r["events_per_second"] / raw, r["task_runs_per_second"], r["batches"]))
        r["ratio_vs_raw"] = r["events_per_second"] / raw
    print_table(f"post.created events through every routed task ({args.events} events, "
                f"load average {results['load_average_start'][0]:.1f} → {results['load_average_end'][0]:.1f})",
                rows, ("path", "workers", "events/s", "ratio vs raw", "handlings/s (event × task)", "batches"))
    for s in results.get("sustained", []):
        marks = s["drained_after_s"]
        store = "notifications in MongoDB" if s["store"] == "mongodb" else "notifications in PostgreSQL (ORM store)"
        print_table(f"Sustained {s['rate']:g} posts/s for {s['duration']:g} s, {s['workers']} worker processes, {store} "
                    f"(achieved {s['achieved_rate']:.1f} posts/s, at most {s['max_behind_schedule_s']:.2f} s behind)",
                    [(name, f"not drained in {args.drain_timeout:g} s" if value is None else value)
                     for name, value in marks.items()],
                    ("back to zero after the last post", "seconds"))


if __name__ == "__main__":
    with Timer() as timer:
        main()
    print(f"\n(took {timer.seconds:.0f} s)")
