"""``make drill``: the fault drills of the stack, each under a post burst, in one table.

Every drill runs on a PRIVATE set of services (``bin/services`` with other ports and its data
under ``.services/drill/``), so the shared services and their users are never disturbed, and
really stops and starts them with ``bin/services stop|start|restart NAME``. For each drill:

1. a fresh stack (:mod:`deploy.stack`, supervisord: web, a worker per queue, beat, forwarder)
   in its own namespace, and 10 users who are all friends of each other;
2. a burst: the 10 friends post 200 posts at 10 posts/s through the HTTP API, each post with
   the drill's hashtag and a mention of the next friend;
3. the fault, 2 s into the burst: Kafka down 30 s, the notifications worker SIGKILLed, MongoDB
   down 60 s, Neo4j down 30 s, Redis restarted, PostgreSQL restarted;
4. after the fault ends, the effects are polled until each worker's are complete (or the drain
   timeout passes) and compared with what PostgreSQL says they must be, computed here
   independently of the workers:

   * scoring: one ``ContentScore`` per accepted post;
   * notifications: one notification per post and friend of its author (``friend_posted``, or
     ``mentioned`` for the mentioned friend) in MongoDB; more than one per (post, friend) is a
     duplicate;
   * trends: the hashtag's hour buckets count each accepted post once;
   * graph: each mention adds 0.5 to ``author → mentioned`` in Neo4j (the sum over the drill's
     pairs, in units of one mention; more is a duplicate);
   * default queue: feed invalidation and push tasks recorded once per event (``ProcessedEvent``).

The table: posts accepted (201) of 200, posts of the burst in PostgreSQL (an answer may time out
after the post was written), accepted posts missing from PostgreSQL (lost), events
still unsent in the outbox, expected/found per worker, duplicates, seconds from the end of the
fault until everything was found, restarts per program, and whether every program was running
and ready at the end without anyone touching it.

Usage: ``python -m deploy.drill [--only NAME ...] [--posts 200] [--rate 10] [--drain-timeout 120]``
(``make drill``). Results also go to ``.data/drill/<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The private services: other ports, data under .services/drill (override the directory with
#: BELLAMY_DRILL_SERVICES_DIR).
PORTS = {
    "BELLAMY_PG_PORT": "55432", "BELLAMY_REDIS_PORT": "56379", "BELLAMY_KAFKA_PORT": "59092",
    "BELLAMY_KAFKA_CONTROLLER_PORT": "59093", "BELLAMY_NEO4J_PORT": "57687", "BELLAMY_MONGO_PORT": "57017",
}
SERVICES_DIR = Path(os.environ.get("BELLAMY_DRILL_SERVICES_DIR") or ROOT / ".services" / "drill")
DATABASE = "bellamy_drill"
SECRET_KEY = "drill-only-secret-key-not-for-production-0123456789"
FRIENDS = 10
MENTION_WEIGHT = 0.5


def services_env() -> dict[str, str]:
    """The environment that points ``bin/services`` at the private services."""
    return {**os.environ, **PORTS, "BELLAMY_SERVICES_DIR": str(SERVICES_DIR)}


def services(command: str, *names: str) -> None:
    """``bin/services COMMAND NAMES`` on the private services (raises if it fails)."""
    subprocess.run([str(ROOT / "bin" / "services"), command, *names], env=services_env(), check=True,
                   stdout=subprocess.DEVNULL if command != "start" or names else None)


def app_env(namespace: str) -> dict[str, str]:
    """The environment of the drill's stack (and of this process): the private services."""
    p = PORTS
    return {
        "DJANGO_SETTINGS_MODULE": "bellamy.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": f"postgres://bellamy:bellamy@127.0.0.1:{p['BELLAMY_PG_PORT']}/{DATABASE}",
        "REDIS_URL": f"redis://127.0.0.1:{p['BELLAMY_REDIS_PORT']}/0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{p['BELLAMY_REDIS_PORT']}/1",
        "BELLAMY_EVENTS_URL": f"kafka://127.0.0.1:{p['BELLAMY_KAFKA_PORT']}",
        "BELLAMY_NOTIFICATIONS_URL": f"mongodb://127.0.0.1:{p['BELLAMY_MONGO_PORT']}",
        "BELLAMY_GRAPH_URL": f"bolt://neo4j:neo4j@127.0.0.1:{p['BELLAMY_NEO4J_PORT']}",
        "BELLAMY_NAMESPACE": namespace,
        "BELLAMY_THROTTLE_TOKEN": "10000/min",
        "BELLAMY_THROTTLE_REGISTER": "10000/min",
        "BELLAMY_LOG_LEVEL": "WARNING",
    }


# --- faults ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One drill: ``inject(stack)`` causes the fault and returns once it is over."""

    name: str
    description: str
    inject: Callable


def _down(name: str, seconds: float) -> Callable:
    def inject(stack) -> None:
        services("stop", name)
        time.sleep(seconds)
        services("start", name)
    return inject


def _restart(name: str) -> Callable:
    def inject(stack) -> None:
        services("restart", name)
    return inject


def _kill_worker(program: str) -> Callable:
    def inject(stack) -> None:
        os.kill(stack.pids()[program], signal.SIGKILL)
    return inject


FAULTS = [
    Fault("kafka-down", "Kafka stopped for 30 s", _down("kafka", 30)),
    Fault("worker-killed", "notifications worker SIGKILLed", _kill_worker("worker-notifications")),
    Fault("mongo-down", "MongoDB stopped for 60 s", _down("mongo", 60)),
    Fault("neo4j-down", "Neo4j stopped for 30 s", _down("neo4j", 30)),
    Fault("redis-restart", "Redis restarted", _restart("redis")),
    Fault("postgres-restart", "PostgreSQL restarted", _restart("postgres")),
]


# --- one drill -------------------------------------------------------------------------------


@dataclass
class Effects:
    """Expected (from PostgreSQL) and found (in each worker's store) effects of the burst."""

    posts_in_db: int = 0
    post_ids: list[int] = field(default_factory=list, repr=False)
    unsent: int = 0
    scores: tuple[int, int] = (0, 0)
    notifications: tuple[int, int] = (0, 0)
    trends: tuple[int, int] = (0, 0)
    graph: tuple[int, int] = (0, 0)
    default: tuple[int, int] = (0, 0)
    duplicates: int = 0
    error: str = ""

    @property
    def complete(self) -> bool:
        """Every expected effect found (and nothing left in the outbox)."""
        return not self.error and self.unsent == 0 and all(
            found >= expected for expected, found in (self.scores, self.notifications, self.trends, self.graph,
                                                      self.default))


@dataclass
class DrillResult:
    """One row of the table."""

    name: str
    description: str
    posts_sent: int
    accepted: int
    refused: dict[str, int]
    lost: int
    effects: Effects
    drained_seconds: float | None
    restarts: dict[str, int]
    all_back: bool
    fault_seconds: float
    notes: list[str] = field(default_factory=list)


class Burst(threading.Thread):
    """Posts ``count`` posts at ``rate`` per second through the HTTP API (a thread with its own
    event loop); ``accepted`` holds the ids of the 201 answers, ``refused`` counts the rest by
    status or exception."""

    def __init__(self, base_url: str, authors: list[tuple[int, str, str]], hashtag: str, count: int, rate: float):
        super().__init__(daemon=True)
        self.base_url, self.authors, self.hashtag, self.count, self.rate = base_url, authors, hashtag, count, rate
        self.accepted: list[int] = []
        self.refused: dict[str, int] = {}

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        import httpx

        # A patient client (60 s, no connection limit): a slow answer is not a refusal. A post
        # whose answer never came may still exist; the effects are expected from PostgreSQL.
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60,
                                     limits=httpx.Limits(max_connections=None)) as client:
            started = time.monotonic()

            async def one(i: int) -> None:
                await asyncio.sleep(max(0.0, started + i / self.rate - time.monotonic()))
                author_id, _username, token = self.authors[i % len(self.authors)]
                mentioned = self.authors[(i + 1) % len(self.authors)][1]
                try:
                    response = await client.post(
                        f"/api/Post/users/{author_id}", headers={"Authorization": f"Bearer {token}"},
                        json={"content": f"drill post {i} #{self.hashtag} @{mentioned}"})
                except Exception as exc:  # noqa: BLE001 — counted as refused, by kind
                    self.refused[type(exc).__name__] = self.refused.get(type(exc).__name__, 0) + 1
                    return
                if response.status_code == 201:
                    self.accepted.append(response.json()["id"])
                else:
                    key = str(response.status_code)
                    self.refused[key] = self.refused.get(key, 0) + 1

            await asyncio.gather(*(one(i) for i in range(self.count)))


def make_friends(tag: str) -> list[tuple[int, str, str]]:
    """Create FRIENDS users who are all friends of each other; ``[(id, username, access token)]``."""
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    from graph.models import Friendship

    users = [get_user_model().objects.create_user(username=f"d{tag}u{n}", email=f"d{tag}u{n}@example.org",
                                                  password=None) for n in range(FRIENDS)]
    Friendship.objects.bulk_create([
        Friendship(user_low_id=min(a.pk, b.pk), user_high_id=max(a.pk, b.pk))
        for i, a in enumerate(users) for b in users[i + 1:]
    ])
    return [(u.pk, u.username, str(AccessToken.for_user(u))) for u in users]


def measure(author_ids: list[int], hashtag: str, namespace: str) -> Effects:
    """Compare what PostgreSQL says the burst must have caused — every post of the drill's
    authors, whether or not its HTTP answer arrived — with what each store holds."""
    from django.db import close_old_connections, connection
    from django.db.models import Count, Sum
    from pymongo import MongoClient

    from bellamy.backends import get_backend
    from bellamy.events.models import OutboxEvent, ProcessedEvent
    from bellamy.events.routes import ROUTES
    from feed.models import ContentScore
    from graph.models import Friendship
    from graph.stores.neo4j import Neo4jGraphStore
    from posts.models import Post, PostMention
    from trends.models import HashtagBucket

    effects = Effects()
    try:
        close_old_connections()
        if not connection.is_usable():
            connection.close()
        posts = list(Post.objects.filter(author_id__in=author_ids).values_list("id", "author_id"))
        ids = [pid for pid, _ in posts]
        effects.posts_in_db = len(posts)
        effects.post_ids = ids
        events = OutboxEvent.objects.filter(type="post.created", payload__data__post_id__in=ids)
        effects.unsent = events.filter(sent_at__isnull=True).count()
        event_ids = list(events.values_list("event_id", flat=True))
        effects.scores = (len(ids), ContentScore.objects.filter(post_id__in=ids).count())
        trend_uses = HashtagBucket.objects.filter(hashtag__name=hashtag).aggregate(n=Sum("uses"))["n"] or 0
        effects.trends = (len(ids), trend_uses)
        friends_of = {}
        for low, high in Friendship.objects.values_list("user_low_id", "user_high_id"):
            friends_of[low] = friends_of.get(low, 0) + 1
            friends_of[high] = friends_of.get(high, 0) + 1
        expected_notifications = sum(friends_of.get(author, 0) for _, author in posts)
        mentions = list(PostMention.objects.filter(post_id__in=ids).values("post__author_id", "user_id")
                        .annotate(n=Count("id")))
        expected_mentions = sum(row["n"] for row in mentions)
        # The default queue's tasks of post.created as routed today (their names move with the
        # code: the friends' push went from feed to notifications).
        default_tasks = [route.task for route in ROUTES["post.created"] if route.queue == "default"]
        effects.default = (len(default_tasks) * len(event_ids), ProcessedEvent.objects.filter(
            event_id__in=event_ids, task_name__in=default_tasks).count())
        client = MongoClient(os.environ["BELLAMY_NOTIFICATIONS_URL"], serverSelectionTimeoutMS=3000)
        try:
            docs = list(client[namespace]["notifications"].find(
                {"post_id": {"$in": ids}, "type": {"$in": ["friend_posted", "mentioned"]}},
                {"recipient_id": 1, "post_id": 1}))
        finally:
            client.close()
        distinct = {(d["recipient_id"], d["post_id"]) for d in docs}
        effects.notifications = (expected_notifications, len(docs))
        store = get_backend("BELLAMY_GRAPH")
        if isinstance(store, Neo4jGraphStore):
            # the stack's namespace, not this process's: each drill's stack has its own
            store = Neo4jGraphStore(url=store.url, namespace=namespace)
        weight = sum(store.weight(row["post__author_id"], row["user_id"]) for row in mentions)
        found_mentions = round(weight / MENTION_WEIGHT)
        effects.graph = (expected_mentions, found_mentions)
        effects.duplicates = (len(docs) - len(distinct)) + max(0, found_mentions - expected_mentions) + max(
            0, trend_uses - len(ids))
    except Exception as exc:  # noqa: BLE001 — a store still down: measured again at the next poll
        effects.error = f"{type(exc).__name__}: {str(exc)[:200]}"
    return effects


def restarts(stack) -> dict[str, int]:
    """How many times supervisord started each program again after its first start."""
    log = (stack.config.log_dir / "supervisord.log").read_text(errors="replace")
    return {p.name: max(0, log.count(f"spawned: '{p.name}'") - 1) for p in stack.programs}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_drill(fault: Fault, index: int, *, posts: int, rate: float, drain_timeout: float, run_id: str) -> DrillResult:
    """Run one drill on a fresh stack and return its row."""
    from deploy.stack import Stack, StackConfig

    namespace = f"drill{run_id}{index}"
    env = {**os.environ, **app_env(namespace)}
    run_dir = ROOT / ".data" / "drill" / run_id / fault.name
    stack = Stack(StackConfig.from_env(env, run_dir=run_dir, log_dir=run_dir, port=free_port(), namespace=namespace),
                  env)
    notes: list[str] = []
    print(f"--> {fault.name}: {fault.description} (stack logs in {run_dir.relative_to(ROOT)}/)", flush=True)
    stack.start(timeout=120)
    try:
        authors = make_friends(f"{run_id}{index}")
        hashtag = f"drill{run_id}{index}"
        burst = Burst(stack.base_url, authors, hashtag, posts, rate)
        burst.start()
        time.sleep(2)
        fault_started = time.monotonic()
        try:
            fault.inject(stack)
        except Exception as exc:  # noqa: BLE001 — reported in the row; the drill goes on
            notes.append(f"fault injection failed: {exc}")
        fault_ended = time.monotonic()
        burst.join(timeout=posts / rate + 120)
        drained = None
        author_ids = [author_id for author_id, _, _ in authors]
        effects = measure(author_ids, hashtag, namespace)
        while time.monotonic() - fault_ended < drain_timeout:
            effects = measure(author_ids, hashtag, namespace)
            if effects.complete and not burst.is_alive():
                drained = time.monotonic() - fault_ended
                break
            time.sleep(2)
        # Did every program come back by itself? Give a restarting one the time to get ready.
        try:
            stack.wait_ready(timeout=60)
            all_back = all(item["statename"] == "RUNNING" for item in stack.info().values())
        except Exception as exc:  # noqa: BLE001
            all_back = False
            notes.append(f"not back: {str(exc).splitlines()[0]}")
        lost = len(set(burst.accepted) - set(effects.post_ids)) if not effects.error else -1
        if effects.error:
            notes.append(f"last measurement failed: {effects.error}")
        result = DrillResult(fault.name, fault.description, posts, len(burst.accepted), dict(burst.refused), lost,
                             effects, drained, restarts(stack), all_back, round(fault_ended - fault_started, 1), notes)
    finally:
        stack.stop()
    return result


def _cell(pair: tuple[int, int]) -> str:
    expected, found = pair
    return f"{found}/{expected}" + ("" if found == expected else " !")


def table(results: list[DrillResult]) -> str:
    """The drills as one plain-text table (found/expected per worker; ``!`` marks a mismatch)."""
    head = ("drill", "accepted", "in db", "lost", "unsent", "scores", "notifications", "trends", "graph", "default",
            "dupes", "drained s", "restarts", "all back")
    rows = [head]
    for r in results:
        e = r.effects
        restarted = ",".join(f"{name.removeprefix('worker-')}×{n}" for name, n in r.restarts.items() if n) or "-"
        rows.append((r.name, f"{r.accepted}/{r.posts_sent}", str(e.posts_in_db), str(r.lost), str(e.unsent), _cell(e.scores),
                     _cell(e.notifications), _cell(e.trends), _cell(e.graph), _cell(e.default), str(e.duplicates),
                     f"{r.drained_seconds:.0f}" if r.drained_seconds is not None else "no", restarted,
                     "yes" if r.all_back else "NO"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    notes = [f"  {r.name}: refused {r.refused}" for r in results if r.refused]
    notes += [f"  {r.name}: {note}" for r in results for note in r.notes]
    return "\n".join(lines + (["notes:", *notes] if notes else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=[f.name for f in FAULTS], help="run only these drills")
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="posts per second")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="seconds after the fault ends to wait for every effect")
    parser.add_argument("--keep-services", action="store_true", help="leave the private services running")
    options = parser.parse_args(argv)

    print(f"==> private services on ports {', '.join(PORTS.values())}, data in {SERVICES_DIR}", flush=True)
    services("start")
    os.environ.update(app_env("drill"))
    import psycopg

    with psycopg.connect(f"postgresql://bellamy:bellamy@127.0.0.1:{PORTS['BELLAMY_PG_PORT']}/postgres",
                         autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(f"CREATE DATABASE {DATABASE}")
    # The private Neo4j holds only earlier drills' nodes: start from an empty graph, then install
    # the schema as a deployment does (its uniqueness constraint keeps concurrent MERGEs of one
    # user from creating two nodes).
    from neo4j import GraphDatabase

    with GraphDatabase.driver(f"bolt://127.0.0.1:{PORTS['BELLAMY_NEO4J_PORT']}", auth=("neo4j", "neo4j")) as driver:
        with driver.session() as session:  # an implicit (auto-commit) transaction
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS").consume()
    for command in (["migrate", "--noinput"], ["graph_install_schema"]):
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], env=os.environ, cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
    import logging

    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    # The measuring reads ask Neo4j for pairs that may not exist yet: its notices are noise here.
    logging.getLogger("neo4j").setLevel(logging.ERROR)

    run_id = uuid.uuid4().hex[:4]
    results = []
    try:
        for index, fault in enumerate(FAULTS):
            if options.only and fault.name not in options.only:
                continue
            services("start")  # a previous drill's fault never leaks into the next one
            results.append(run_drill(fault, index, posts=options.posts, rate=options.rate,
                                     drain_timeout=options.drain_timeout, run_id=run_id))
            print(table(results[-1:]), flush=True)
    finally:
        if not options.keep_services:
            services("stop")
    out = ROOT / ".data" / "drill" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    print(f"\n==> fault drills ({options.posts} posts at {options.rate:g}/s by {FRIENDS} friends, fault 2 s in; "
          f"found/expected per worker)\n{table(results)}\n==> {out.relative_to(ROOT)}")
    target_met = all(r.lost == 0 and r.effects.duplicates == 0 and r.all_back and r.drained_seconds is not None
                     and r.drained_seconds <= 60 and r.effects.complete for r in results)
    return 0 if target_met else 1


if __name__ == "__main__":
    sys.exit(main())
