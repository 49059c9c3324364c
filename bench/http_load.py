"""Benchmark: the HTTP API under load from a separate process, on the production stack.

A :class:`tests.live_stack.LiveStack` (bin/web + Celery worker + forwarder on PostgreSQL,
Redis, Kafka, MongoDB) is driven by an asyncio ``httpx`` client in this process (loopback
only, bounded in count and time). Figures, each next to a baseline of the same run:

1. post creation (``POST /api/Post/users/{id}``) at concurrency 1, 8, 32 — throughput and
   latency — vs a bare DRF endpoint inserting one row into a table of the same shape
   (``bench/urls.py``): the ratio is the figure (target ≥ 0.7);
2. feed reads (``GET /api/feed/``) cached vs uncached (uncached: a new ``limit`` per request
   misses the page cache);
3. mixed traffic: 70 % feed, 20 % post, 10 % like/comment, concurrency 16, 20 s;
4. scaling: post creation and uncached feed latency with 10k, 100k and 1M posts in the table;
5. pipeline throughput with 1, 2 and 4 worker processes (posts fully handled by every worker
   task per second);
6. peak RSS of the web, worker and forwarder processes.

Run: ``.venv/bin/python bench/http_load.py [--quick]`` with the services running.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import sys
import time

from _common import ROOT, emit, percentile, print_table, setup_django

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
    user_model.objects.filter(username__startswith="bl_").delete()
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


async def http_figures(stack, people: dict, quick: bool) -> dict:
    import httpx

    tokens, viewers, authors = people["tokens"], people["viewers"], people["authors"]
    results = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60, limits=limits) as http:
        def headers(user_id):
            return {"Authorization": f"Bearer {tokens[user_id]}"}

        async def post(i):
            author = authors[i % len(authors)]
            r = await http.post(f"/api/Post/users/{author}", json={"content": f"load #bench post {i}"}, headers=headers(author))
            return r.status_code == 201

        async def bare(i):
            author = authors[i % len(authors)]
            r = await http.post("/bench/bare-post", json={"content": f"load #bench post {i}"}, headers=headers(author))
            return r.status_code == 201

        async def feed_cached(i):
            viewer = viewers[i % 20]
            return (await http.get("/api/feed/?limit=20", headers=headers(viewer))).status_code == 200

        async def feed_uncached(i):
            viewer = viewers[i % len(viewers)]
            return (await http.get(f"/api/feed/?limit={21 + i % 79}", headers=headers(viewer))).status_code == 200

        recent_posts: list[int] = []

        async def mixed(i):
            roll = i % 10
            if roll < 7:
                return await feed_cached(i)
            if roll < 9:
                author = authors[i % len(authors)]
                r = await http.post(f"/api/Post/users/{author}", json={"content": f"mixed {i}"}, headers=headers(author))
                if r.status_code == 201:
                    recent_posts.append(r.json()["id"])
                return r.status_code == 201
            viewer = viewers[i % len(viewers)]
            target = recent_posts[-1 - (i % max(1, min(20, len(recent_posts))))] if recent_posts else None
            if target is None:
                return await feed_cached(i)
            if i % 20 == 9:
                r = await http.post(f"/api/posts/{target}/like", headers=headers(viewer))
                return r.status_code in (200, 201, 404)
            r = await http.post(f"/api/posts/{target}/comments", json={"content": "nice"}, headers=headers(viewer))
            return r.status_code in (201, 404)

        scale = 0.5 if quick else 1.0
        for concurrency, total in ((1, 100), (8, 400), (32, 800)):
            total = int(total * scale)
            results[f"post_c{concurrency}"] = await run_load(post, concurrency=concurrency, total=total)
            results[f"bare_c{concurrency}"] = await run_load(bare, concurrency=concurrency, total=total)
        results["feed_uncached_c8"] = await run_load(feed_uncached, concurrency=8, total=int(200 * scale))
        for i in range(20):
            await feed_cached(i)
        results["feed_cached_c8"] = await run_load(feed_cached, concurrency=8, total=int(400 * scale))
        results["mixed_c16"] = await run_load(mixed, concurrency=16, duration=20 * scale)
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


def pipeline_throughput(database_url: str, people: dict, workers: int, posts: int) -> dict:
    """Start a stack with ``workers`` worker processes, create ``posts`` posts, and time until
    every routed task of every post ran (ProcessedEvent rows)."""
    import httpx

    from bellamy.events import routes
    from bellamy.events.models import ProcessedEvent
    from tests.live_stack import LiveStack

    per_post = len(routes.ROUTES["post.created"])
    tokens, authors = people["tokens"], people["authors"]
    with LiveStack(database_url=database_url, workers=workers, extra_env=_stack_env()) as stack:
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
    parser.add_argument("--quick", action="store_true", help="half the requests, 10k/100k posts only")
    args = parser.parse_args()
    setup_django("bellamy_bench_http")
    from django.db import connection

    from bench.urls import BARE_TABLE_SQL
    from tests.live_stack import LiveStack, current_database_url

    with connection.cursor() as cursor:
        cursor.execute(BARE_TABLE_SQL)
        cursor.execute("TRUNCATE bench_bare_post")
        cursor.execute("TRUNCATE posts_post CASCADE")
    people = build_people(readers=200, authors=100, friends_each=20)
    url = current_database_url()
    results: dict = {"scaling": {}, "pipeline": []}
    grow_posts(10_000, people["authors"])
    with LiveStack(database_url=url, workers=2, extra_env=_stack_env()) as stack:
        results["http"] = asyncio.run(http_figures(stack, people, args.quick))
        results["rss_mb"] = stack.rss_mb()
        for target in (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000):
            loaded = grow_posts(target, people["authors"])
            results["scaling"][str(target)] = {"load_seconds": loaded, **asyncio.run(scaling_point(stack, people, args.quick))}
    for workers in (1, 2, 4):
        results["pipeline"].append(pipeline_throughput(url, people, workers, 100 if args.quick else 200))
    report(results)
    emit(results)
    return results


def report(results: dict) -> None:
    http = results["http"]
    rows = []
    for c in (1, 8, 32):
        post, bare = http[f"post_c{c}"], http[f"bare_c{c}"]
        rows.append((f"post creation, concurrency {c}", post["per_second"], bare["per_second"],
                     post["per_second"] / bare["per_second"], post["p50_ms"], post["p95_ms"], post["max_ms"]))
    unc, cac = http["feed_uncached_c8"], http["feed_cached_c8"]
    rows.append(("feed read cached (baseline: uncached), c8", cac["per_second"], unc["per_second"],
                 cac["p50_ms"] / unc["p50_ms"], cac["p50_ms"], cac["p95_ms"], cac["max_ms"]))
    mixed = http["mixed_c16"]
    rows.append(("mixed 70/20/10, c16", mixed["per_second"], "", "", mixed["p50_ms"], mixed["p95_ms"], mixed["max_ms"]))
    print_table("HTTP load (ratio: post vs bare endpoint throughput; feed: cached/uncached p50)", rows,
                ("path", "req/s", "baseline req/s", "ratio", "p50 ms", "p95 ms", "max ms"))
    print_table("Scaling with posts in the database (concurrency 8)",
                [(n, s["post"]["p50_ms"], s["post"]["p95_ms"], s["feed"]["p50_ms"], s["feed"]["p95_ms"])
                 for n, s in results["scaling"].items()],
                ("posts", "post p50 ms", "post p95 ms", "uncached feed p50 ms", "uncached feed p95 ms"))
    print_table("Pipeline throughput by worker processes",
                [(p["workers"], p["posts"], p["tasks"], p["posts_per_second"], p["tasks_per_second"]) for p in results["pipeline"]],
                ("workers", "posts", "tasks run", "posts/s end to end", "tasks/s"))
    print("peak RSS MiB:", {k: round(v) for k, v in results["rss_mb"].items()})


if __name__ == "__main__":
    main()
