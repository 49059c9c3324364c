"""Benchmark: the HTTP API under load from a separate process, on the production stack.

A :class:`tests.live_stack.LiveStack` — the web server of ``bin/web`` (Granian, one process
per core), a Celery worker and the forwarder on PostgreSQL, Redis, Kafka and MongoDB, all
consuming what the load creates — is driven by ``wrk`` (a C load generator, Debian package
``wrk``; Lua scripts written by this file), one generator thread, on loopback. The CPU the
generator used is reported next to each run, as is the load average. Figures, each next to
a baseline of the same run on the same server:

1. ``GET /healthz`` at 16 connections (the server's ceiling for the cheapest request);
2. post creation (``POST /api/Post/users/{id}``, with a hashtag) at 1 and 16 connections —
   throughput and p50 — vs the bare insert endpoint of ``bench/urls.py`` (same auth and
   validation, one INSERT): the ratio is the figure (target ≥ 0.7); after the posts, the
   time the workers took to finish consuming them;
3. the cached home feed (``GET /api/feed/``) at 16 connections, vs uncached;
4. a user's posts, page 1,000 of 20,000 (keyset cursor) vs page 1, p50 at 1 connection;
5. scaling: post creation and uncached feed latency with 10k, 100k and 1M posts (httpx);
6. pipeline throughput with 1, 2 and 4 worker processes (posts fully handled per second);
7. peak RSS of the web, worker and forwarder processes;
8. where a post's CPU goes: the CPU each program of the stack and each service used from the
   start of the 16-connection post run until its posts were consumed, per accepted post (on
   this shared machine the services' figures include anything else using them: nothing else
   runs during ``make bench``).

``--store orm`` runs the stack with its notifications in PostgreSQL instead of the MongoDB
server (as ``events_pipeline.py`` and ``realtime_latency.py`` do): the same figures with the
MongoDB stand-in's share of every post taken out.

Run: ``.venv/bin/python bench/http_load.py [--quick] [--http-only] [--store orm]`` with the
services running.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import sys
import time

from _common import (NOTIFICATION_STORES, ROOT, dead_letter_count, delete_bench_users, emit, notification_store_env,
                     percentile, print_metric_totals, print_table, setup_django)

sys.path.insert(0, str(ROOT))


class Load:
    """Latencies of one load run."""

    def __init__(self):
        self.latencies: list[float] = []
        self.errors = 0
        self.seconds = 0.0

    def summary(self) -> dict:
        n = len(self.latencies)
        return {"requests": n, "errors": self.errors, "seconds": self.seconds,
                "per_second": n / self.seconds if self.seconds else 0.0,
                "p50_ms": percentile(self.latencies, 50) * 1000, "p95_ms": percentile(self.latencies, 95) * 1000,
                "max_ms": max(self.latencies, default=float("nan")) * 1000}


async def run_load(request, *, concurrency: int, total: int | None = None, duration: float | None = None) -> dict:
    """Call ``await request(i)`` (returns True on success) from ``concurrency`` tasks until
    ``total`` requests or ``duration`` seconds."""
    load = Load()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + duration if duration else None

    async def worker():
        for i in counter:
            if total is not None and i >= total:
                return
            if deadline is not None and time.perf_counter() >= deadline:
                return
            start = time.perf_counter()
            ok = await request(i)
            if ok:
                load.latencies.append(time.perf_counter() - start)
            else:
                load.errors += 1

    begin = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    load.seconds = time.perf_counter() - begin
    return load.summary()


def build_people(readers: int, authors: int, friends_each: int) -> dict:
    """Users ``bl_r*`` (viewers) and ``bl_a*`` (authors); every viewer befriends
    ``friends_each`` authors. Returns ids and tokens."""
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    from graph.models import Friendship

    user_model = get_user_model()
    delete_bench_users("bl_")
    viewers = user_model.objects.bulk_create([user_model(username=f"bl_r{n}") for n in range(readers)])
    writers = user_model.objects.bulk_create([user_model(username=f"bl_a{n}") for n in range(authors)])
    rng = random.Random(3)
    pairs = set()
    for viewer in viewers:
        for author in rng.sample(writers, friends_each):
            pairs.add((min(viewer.pk, author.pk), max(viewer.pk, author.pk)))
    Friendship.objects.bulk_create([Friendship(user_low_id=a, user_high_id=b) for a, b in sorted(pairs)])
    people = [*viewers, *writers]
    return {"viewers": [v.pk for v in viewers], "authors": [w.pk for w in writers],
            "tokens": {u.pk: str(AccessToken.for_user(u)) for u in people}}


def grow_posts(target: int, authors: list[int]) -> float:
    """COPY posts into posts_post until it holds ``target`` rows; returns seconds taken."""
    from django.db import connection
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM posts_post")
        have = cursor.fetchone()[0]
    missing = target - have
    if missing <= 0:
        return 0.0
    start = time.perf_counter()
    now = timezone.now()
    rng = random.Random(target)
    buffer = io.StringIO()
    for n in range(missing):
        created = now - timezone.timedelta(seconds=60 * (have + n))
        buffer.write(f"{rng.choice(authors)}\tseed post {have + n}\t{'public' if n % 4 else 'friends'}\t"
                     f"{created.isoformat()}\t0\t0\tvisible\n")
    buffer.seek(0)
    raw = connection.connection  # psycopg 3 connection
    connection.ensure_connection()
    with raw.cursor() as cursor:
        with cursor.copy("COPY posts_post (author_id, content, visibility, created_at, like_count, comment_count,"
                         " moderation_state) FROM STDIN") as copy:
            while chunk := buffer.read(1 << 20):
                copy.write(chunk)
    raw.commit()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE posts_post")
    return time.perf_counter() - start


# --- wrk -------------------------------------------------------------------------------------

#: Lua shared by every wrk run: rotate over (user id, token) pairs, print one JSON summary.
WRK_LUA = """
local users = {%(users)s}
local tokens = {%(tokens)s}
local method, body_kind, path_template = "%(method)s", "%(body)s", "%(path)s"
local n = 0
request = function()
  n = n + 1
  local i = (n %% #users) + 1
  local path = string.gsub(path_template, "{user}", users[i])
  local headers = {["Authorization"] = "Bearer " .. tokens[i], ["Content-Type"] = "application/json"}
  local body = nil
  if body_kind == "post" then body = '{"content": "load #bench post ' .. n .. ' of ' .. users[i] .. '"}' end
  return wrk.format(method, path, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "socket_errors": %%d, "non_2xx": %%d, '
    .. '"p50_us": %%d, "p95_us": %%d, "max_us": %%d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(95), latency.max))
end
"""


def wrk(base_url: str, *, method: str, path: str, users: list[int], tokens: dict, connections: int,
        seconds: float, body: str = "") -> dict:
    """Run ``wrk`` (one thread, ``connections`` connections) for ``seconds`` and return
    ``{requests, per_second, errors, p50_ms, p95_ms, max_ms, generator_cpu_s}``.

    ``path`` may hold ``{user}`` (replaced by the user of each request's token); ``body``
    ``"post"`` sends a new post's JSON.
    """
    import resource
    import shutil
    import subprocess
    import tempfile

    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench installs it)")
    script = WRK_LUA % {"users": ", ".join(f'"{u}"' for u in users),
                        "tokens": ", ".join(f'"{tokens[u]}"' for u in users),
                        "method": method, "body": body, "path": path}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", handle.name,
                           base_url], capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(handle.name)
    line = next(line for line in proc.stdout.splitlines() if line.startswith("WRKJSON "))
    import json

    raw = json.loads(line[len("WRKJSON "):])
    seconds_run = raw["duration_us"] / 1e6
    ok = raw["requests"] - raw["non_2xx"]
    return {"requests": raw["requests"], "errors": raw["non_2xx"] + raw["socket_errors"], "seconds": seconds_run,
            "per_second": ok / seconds_run if seconds_run else 0.0, "p50_ms": raw["p50_us"] / 1000,
            "p95_ms": raw["p95_us"] / 1000, "max_ms": raw["max_us"] / 1000,
            "generator_cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def wait_consumed(timeout: float = 300.0) -> float:
    """Wait until the pipeline has consumed everything: no unsent outbox row and no new
    ProcessedEvent row for 3 s. Returns the seconds waited."""
    from bellamy.events.models import OutboxEvent, ProcessedEvent

    start = time.perf_counter()
    last, stable_since = -1, time.perf_counter()
    while time.perf_counter() - start < timeout:
        count = ProcessedEvent.objects.count()
        pending = OutboxEvent.objects.filter(sent_at__isnull=True).exists()
        if count != last or pending:
            last, stable_since = count, time.perf_counter()
        elif time.perf_counter() - stable_since >= 3:
            return stable_since - start
        time.sleep(0.25)
    return float("nan")


def build_deep_author(posts: int = 20_000) -> tuple[int, list]:
    """User ``bl_deep`` with ``posts`` public posts one second apart; returns its id and its
    posts' ``(created_at, id)`` newest first."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from posts.models import Post

    author = get_user_model().objects.create(username="bl_deep")
    now = timezone.now()
    buffer = io.StringIO()
    for n in range(posts):
        buffer.write(f"{author.pk}\tdeep post {n}\tpublic\t{(now - timezone.timedelta(seconds=n)).isoformat()}\t0\t0\tvisible\n")
    buffer.seek(0)
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        with cursor.copy("COPY posts_post (author_id, content, visibility, created_at, like_count, comment_count,"
                         " moderation_state) FROM STDIN") as copy:
            copy.write(buffer.read())
    connection.connection.commit()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE posts_post")
    return author.pk, list(Post.objects.filter(author_id=author.pk).order_by("-created_at", "-id")
                           .values_list("created_at", "id"))


def http_figures(stack, people: dict, deep: tuple[int, list], quick: bool) -> dict:
    """Every wrk figure of the module docstring (1–4), in one run on one server."""
    import httpx

    from bellamy.api.pagination import encode_cursor

    tokens, viewers, authors = people["tokens"], people["viewers"], people["authors"]
    seconds = 5 if quick else 10
    results = {"load_average_before": os.getloadavg()}
    run = lambda **kw: wrk(stack.base_url, tokens=tokens, seconds=seconds, **kw)  # noqa: E731
    results["healthz_c16"] = run(method="GET", path="/healthz", users=viewers[:1], connections=16)
    # Reads first: the workers still consuming the posts below would slow them down.
    feed_viewers = viewers[:20]
    results["feed_uncached_c16"] = run(method="GET", path="/api/feed/?limit=20", users=feed_viewers, connections=16)
    for viewer in feed_viewers:  # warm every page (the uncached run above may have been cut short)
        httpx.get(f"{stack.base_url}/api/feed/?limit=20", headers={"Authorization": f"Bearer {tokens[viewer]}"}, timeout=60)
    results["feed_cached_c16"] = run(method="GET", path="/api/feed/?limit=20", users=feed_viewers, connections=16)
    author_id, newest_first = deep
    cursor = encode_cursor(list(newest_first[999 * 20 - 1]))
    results["author_posts_page1_c1"] = run(method="GET", path=f"/api/Post/users/{author_id}?limit=20",
                                           users=viewers[:1], connections=1)
    results["author_posts_page1000_c1"] = run(method="GET", path=f"/api/Post/users/{author_id}?limit=20&cursor={cursor}",
                                              users=viewers[:1], connections=1)
    for c in (1, 16):
        results[f"bare_c{c}"] = run(method="POST", path="/bench/bare-post", users=authors, connections=c, body="post")
        cpu_before = stack.cpu_seconds()
        results[f"post_c{c}"] = run(method="POST", path="/api/Post/users/{user}", users=authors, connections=c,
                                    body="post")
        # The posts' events still queued when the load stopped: how long until consumed.
        results[f"post_c{c}"]["consumed_after_s"] = wait_consumed()
        cpu_after, posts = stack.cpu_seconds(), results[f"post_c{c}"]["requests"] - results[f"post_c{c}"]["errors"]
        results[f"post_c{c}"]["cpu_ms_per_post"] = {
            name: (cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / posts for name in cpu_after} if posts else {}
    results["load_average_after"] = os.getloadavg()
    return results


async def scaling_point(stack, people: dict, quick: bool) -> dict:
    import httpx

    tokens, viewers, authors = people["tokens"], people["viewers"], people["authors"]
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
        async def post(i):
            author = authors[i % len(authors)]
            r = await http.post(f"/api/Post/users/{author}", json={"content": f"scale {i}"},
                                headers={"Authorization": f"Bearer {tokens[author]}"})
            return r.status_code == 201

        async def feed(i):
            viewer = viewers[i % len(viewers)]
            r = await http.get(f"/api/feed/?limit={21 + i % 79}", headers={"Authorization": f"Bearer {tokens[viewer]}"})
            return r.status_code == 200

        n = 60 if quick else 120
        return {"post": await run_load(post, concurrency=8, total=n), "feed": await run_load(feed, concurrency=8, total=n)}


def pipeline_throughput(database_url: str, people: dict, workers: int, posts: int, store: str = "mongodb") -> dict:
    """Start a stack with ``workers`` worker processes (notifications in ``store``), create
    ``posts`` posts, and time until every routed task of every post ran (ProcessedEvent rows)."""
    import httpx

    from bellamy.events import routes
    from bellamy.events.models import ProcessedEvent
    from tests.live_stack import LiveStack

    per_post = len(routes.ROUTES["post.created"])
    tokens, authors = people["tokens"], people["authors"]
    with LiveStack(database_url=database_url, workers=workers,
                   extra_env={**_stack_env(), **notification_store_env(store)}) as stack:
        before = ProcessedEvent.objects.count()

        async def create():
            async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
                async def post(i):
                    author = authors[i % len(authors)]
                    r = await http.post(f"/api/Post/users/{author}", json={"content": f"pipe {i}"},
                                        headers={"Authorization": f"Bearer {tokens[author]}"})
                    return r.status_code == 201
                return await run_load(post, concurrency=16, total=posts)

        start = time.perf_counter()
        created = asyncio.run(create())
        expected = before + created["requests"] * per_post
        deadline = time.perf_counter() + 300
        while ProcessedEvent.objects.count() < expected and time.perf_counter() < deadline:
            time.sleep(0.2)
        seconds = time.perf_counter() - start
        done = ProcessedEvent.objects.count() - before
        rss = stack.rss_mb()
    return {"workers": workers, "posts": created["requests"], "tasks": done, "seconds": seconds,
            "posts_per_second": created["requests"] / seconds, "tasks_per_second": done / seconds, "rss_mb": rss}


def _stack_env() -> dict:
    return {"DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"], "BELLAMY_ROOT_URLCONF": "bench.urls",
            "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s per wrk run, 10k/100k posts only")
    parser.add_argument("--http-only", action="store_true", help="only the wrk figures (1-4) and RSS")
    parser.add_argument("--store", choices=NOTIFICATION_STORES, default="mongodb",
                        help="the stack's notification store: the MongoDB server (default) or PostgreSQL")
    args = parser.parse_args()
    setup_django("bellamy_bench_http")
    from django.db import connection

    from bench.urls import BARE_TABLE_SQL
    from tests.live_stack import LiveStack, current_database_url

    with connection.cursor() as cursor:
        cursor.execute(BARE_TABLE_SQL)
        cursor.execute("TRUNCATE bench_bare_post")
        cursor.execute("TRUNCATE posts_post CASCADE")
        cursor.execute("TRUNCATE events_outboxevent")  # rows of an earlier run's posts
    people = build_people(readers=200, authors=100, friends_each=20)
    url = current_database_url()
    results: dict = {"scaling": {}, "pipeline": [], "store": args.store}
    grow_posts(10_000, people["authors"])
    deep = build_deep_author()
    results["web_processes"] = int(os.environ.get("BELLAMY_WEB_PROCESSES") or os.cpu_count())
    dead_letters = dead_letter_count()
    with LiveStack(database_url=url, workers=2, web_processes=results["web_processes"], relay_sweep=True,
                   extra_env={**_stack_env(), **notification_store_env(args.store)}) as stack:
        results["http"] = http_figures(stack, people, deep, args.quick)
        results["rss_mb"] = stack.rss_mb()
        for target in () if args.http_only else (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000):
            loaded = grow_posts(target, people["authors"])
            results["scaling"][str(target)] = {"load_seconds": loaded, **asyncio.run(scaling_point(stack, people, args.quick))}
        results["metrics"] = stack.metric_totals()  # /metrics while the stack still runs: what the load moved
    for workers in () if args.http_only else (1, 2, 4):
        results["pipeline"].append(pipeline_throughput(url, people, workers, 100 if args.quick else 200, args.store))
    # every event the load created must have been handled: a dead letter is a failure of the run
    results["dead_letters"] = dead_letter_count() - dead_letters
    report(results)
    emit(results)
    return results


def report(results: dict) -> None:
    http = results["http"]
    rows = [("GET /healthz, c16", http["healthz_c16"]["per_second"], "", "", http["healthz_c16"]["p50_ms"],
             http["healthz_c16"]["p95_ms"], http["healthz_c16"]["errors"], http["healthz_c16"]["generator_cpu_s"])]
    for c in (1, 16):
        post, bare = http[f"post_c{c}"], http[f"bare_c{c}"]
        rows.append((f"post creation, c{c} (consumed {post['consumed_after_s']:.1f} s after)", post["per_second"],
                     bare["per_second"], post["per_second"] / bare["per_second"], post["p50_ms"], post["p95_ms"],
                     post["errors"], post["generator_cpu_s"]))
        rows.append((f"bare insert endpoint, c{c}", bare["per_second"], "", "", bare["p50_ms"], bare["p95_ms"],
                     bare["errors"], bare["generator_cpu_s"]))
    cached, uncached = http["feed_cached_c16"], http["feed_uncached_c16"]
    rows.append(("feed cached (baseline: uncached), c16", cached["per_second"], uncached["per_second"],
                 cached["per_second"] / uncached["per_second"], cached["p50_ms"], cached["p95_ms"], cached["errors"],
                 cached["generator_cpu_s"]))
    deep, first = http["author_posts_page1000_c1"], http["author_posts_page1_c1"]
    rows.append(("author posts page 1,000 of 20,000 (baseline: page 1), c1", deep["p50_ms"], first["p50_ms"],
                 deep["p50_ms"] / first["p50_ms"], deep["p50_ms"], deep["p95_ms"], deep["errors"], deep["generator_cpu_s"]))
    print_table("HTTP load with wrk, notifications in " + results["store"] +
                " (ratio: post/bare req/s; feed: cached/uncached req/s; deep page: p50/page-1 p50)",
                rows, ("path", "req/s (deep page: p50 ms)", "baseline", "ratio", "p50 ms", "p95 ms", "errors",
                       "wrk CPU s"))
    print(f"dead letters during the run: {results['dead_letters']} (0 expected: every event handled)")
    print("load average before / after:", [round(x, 2) for x in http["load_average_before"]],
          [round(x, 2) for x in http["load_average_after"]])
    cpu = http["post_c16"].get("cpu_ms_per_post") or {}
    if cpu:
        total = sum(cpu.values())
        cores = os.cpu_count() or 1
        print_table(f"CPU per accepted post, c16 post run until consumed ({total:.1f} ms in all; {cores} cores = "
                    f"{cores * 1000 / total:.0f} posts/s at most)" if total else "CPU per accepted post",
                    [(name, ms, 100 * ms / total if total else 0.0) for name, ms in
                     sorted(cpu.items(), key=lambda item: -item[1])],
                    ("program or service", "ms CPU per post", "%"))
    print_table("Scaling with posts in the database (concurrency 8)",
                [(n, s["post"]["p50_ms"], s["post"]["p95_ms"], s["feed"]["p50_ms"], s["feed"]["p95_ms"])
                 for n, s in results["scaling"].items()],
                ("posts", "post p50 ms", "post p95 ms", "uncached feed p50 ms", "uncached feed p95 ms"))
    print_table("Pipeline throughput by worker processes",
                [(p["workers"], p["posts"], p["tasks"], p["posts_per_second"], p["tasks_per_second"]) for p in results["pipeline"]],
                ("workers", "posts", "tasks run", "posts/s end to end", "tasks/s"))
    print("peak RSS MiB:", {k: round(v) for k, v in results["rss_mb"].items()})
    print_metric_totals(results["metrics"])


if __name__ == "__main__":
    main()
