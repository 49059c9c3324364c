"""Benchmark: post → friend's WebSocket latency on the full production stack.

A :class:`tests.live_stack.LiveStack` (Daphne, Celery worker, forwarder; Kafka, Redis,
MongoDB, PostgreSQL) serves 200 connected sockets. 50 authors post at a steady rate through
``POST /api/Post/users/{id}``; each author has 4 friends among the 200 socket holders. For
every post the latency is measured from the moment its request was sent to the moment each
friend's socket receives the ``notification.created`` of that post (p50/p95/max), at 10 and
50 posts per second. Bounded: 15 s of load per rate, loopback only.

Run: ``.venv/bin/python bench/realtime_latency.py`` with the services running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from _common import ROOT, emit, percentile, print_metric_totals, print_table, setup_django

sys.path.insert(0, str(ROOT))


def build(receivers: int, authors: int, friends_per_author: int) -> tuple[list[int], list[int]]:
    from django.contrib.auth import get_user_model

    from graph.models import Friendship

    user_model = get_user_model()
    user_model.objects.filter(username__startswith="rt_").delete()
    people = user_model.objects.bulk_create([user_model(username=f"rt_r{n}") for n in range(receivers)])
    writers = user_model.objects.bulk_create([user_model(username=f"rt_a{n}") for n in range(authors)])
    pairs = []
    for n, author in enumerate(writers):
        for k in range(friends_per_author):
            friend = people[(n * friends_per_author + k) % receivers]
            pairs.append(Friendship(user_low_id=min(author.pk, friend.pk), user_high_id=max(author.pk, friend.pk)))
    Friendship.objects.bulk_create(pairs)
    return [p.pk for p in people], [w.pk for w in writers]


async def run_rate(stack, tokens: dict[int, str], receivers: list[int], authors: list[int], rate: float,
                   seconds: float) -> dict:
    import httpx
    import websockets

    ws_url = stack.base_url.replace("http://", "ws://") + "/ws/"
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    expected = 0
    sockets = [await websockets.connect(f"{ws_url}?token={tokens[r]}", max_queue=None) for r in receivers]

    async def listen(socket):
        async for raw in socket:
            message = json.loads(raw)
            if message["type"] == "notification.created" and message["data"].get("post_id") in sent_at:
                latencies.append(time.perf_counter() - sent_at[message["data"]["post_id"]])

    listeners = [asyncio.create_task(listen(s)) for s in sockets]
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30,
                                 limits=httpx.Limits(max_connections=64)) as http:
        async def post(author: int, n: int):
            started = time.perf_counter()
            response = await http.post(f"/api/Post/users/{author}", json={"content": f"rate {rate} post {n}"},
                                       headers={"Authorization": f"Bearer {tokens[author]}"})
            if response.status_code == 201:
                sent_at[response.json()["id"]] = started

        tasks, begin = [], time.perf_counter()
        total = int(rate * seconds)
        for n in range(total):
            await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(post(authors[n % len(authors)], n)))
        await asyncio.gather(*tasks)
        expected = len(sent_at) * 4
        deadline = time.perf_counter() + 60
        while len(latencies) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
    scraped = await asyncio.to_thread(stack.metric_totals)  # /metrics with the sockets still open
    for task in listeners:
        task.cancel()
    for socket in sockets:
        await socket.close()
    return {"rate": rate, "posts": len(sent_at), "expected": expected, "received": len(latencies),
            "p50_ms": percentile(latencies, 50) * 1000, "p95_ms": percentile(latencies, 95) * 1000,
            "max_ms": max(latencies, default=float("nan")) * 1000, "metrics": scraped}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,50")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    setup_django("bellamy_bench_rt")
    from rest_framework_simplejwt.tokens import AccessToken

    from tests.live_stack import LiveStack

    receivers, authors = build(200, 50, 4)
    from django.contrib.auth import get_user_model

    tokens = {u.pk: str(AccessToken.for_user(u)) for u in get_user_model().objects.filter(pk__in=receivers + authors)}
    results = []
    with LiveStack(workers=args.workers,
                   extra_env={"DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"]}) as stack:
        for rate in (float(r) for r in args.rates.split(",")):
            results.append(asyncio.run(run_rate(stack, tokens, receivers, authors, rate, args.seconds)))
        rss = stack.rss_mb()
    scraped = [r.pop("metrics") for r in results][-1]  # the last rate's scrape: the totals of the run
    print_table(
        f"Post → friend's socket, 200 sockets, {args.workers} worker process(es)",
        [(r["rate"], r["posts"], f"{r['received']}/{r['expected']}", r["p50_ms"], r["p95_ms"], r["max_ms"]) for r in results],
        ("posts/s", "posts", "notifications received", "p50 ms", "p95 ms", "max ms"),
    )
    print("peak RSS MiB:", {k: round(v) for k, v in rss.items()})
    print_metric_totals(scraped)
    emit({"rates": results, "rss_mb": rss, "metrics": scraped})
    return {"rates": results, "rss_mb": rss, "metrics": scraped}


if __name__ == "__main__":
    main()
