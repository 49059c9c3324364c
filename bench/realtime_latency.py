"""Benchmark: real-time delivery on the full production stack — rate, crowd, idle sockets.

A :class:`tests.live_stack.LiveStack` (``bin/web``: Granian; Celery workers, forwarder; Kafka, Redis,
MongoDB-compatible store, PostgreSQL) serves every socket; this process is the clients (and, for
the push-path baselines, the worker: it calls ``bellamy.realtime.services.push_messages``, the
function the notification worker calls, on the stack's Redis).

- **rates** — 200 friends' sockets; 50 authors with 4 friends each post through
  ``POST /api/Post/users/{id}`` at 10 and 50 posts/s for ``--seconds``. Latency from the moment
  a request is sent to the moment each friend's socket receives that post's
  ``notification.created`` (p50/p95/max); after the run, how many of those frames never came
  (``missing``, waited up to 120 s; with how many runs of the notification task the stack's
  ``/metrics`` counted during the phase, and their mean run time: one run handles a batch of posts, so fewer runs than posts is
  batching, not loss) and how many other frames arrived (``other_frames``: one
  frame per post and friend is the contract). Beside it, whose part is whose: the POST request
  itself (web), the notification task's mean run time from `/metrics` (store + push), and the
  push path alone (one frame pushed by this process to one socket, 200 samples).
- **crowd** — one author with ``--crowd`` (2,000) online friends posts once: time from the
  request to the last socket receiving its notification, and how many did. Baseline in the
  same run: the push path alone, this process pushing 2,000 distinct frames to the same 2,000
  sockets in one call, time to the last.
- **idle** — 200 sockets of users nobody writes to, opened first and left silent (no client
  pings) for ``--idle-minutes`` (10) while the other phases run: the % still open at the end,
  and the % that then receive a push.

Run: ``.venv/bin/python bench/realtime_latency.py`` with the services running.
``--store orm`` runs the stack with its notifications in PostgreSQL, which takes the MongoDB
server's share out of the whole path (the crowd phase writes 2,000 notifications before its push).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from _common import (NOTIFICATION_STORES, ROOT, delete_bench_users, emit, notification_store_env, percentile,
                     print_metric_totals, print_table, setup_django)

sys.path.insert(0, str(ROOT))

RECEIVERS, AUTHORS, FRIENDS_PER_AUTHOR, IDLE_SOCKETS = 200, 50, 4, 200
#: The notification worker's task (one run per batch of events).
NOTIFY_TASK = "notifications.notify_task"
#: Seconds to wait after the last post for its pushes before counting the missing ones.
WAIT_AFTER_RUN = 120


def build(crowd: int) -> dict[str, list[int]]:
    """Users: ``rt_r*`` receivers, ``rt_a*`` authors (4 friends each among the receivers),
    ``rt_c*`` the crowd (friends of ``rt_star``), ``rt_i*`` idle users (no friends)."""
    from django.contrib.auth import get_user_model

    from graph.models import Friendship

    user_model = get_user_model()
    delete_bench_users("rt_")

    def users(prefix: str, count: int) -> list:
        return user_model.objects.bulk_create([user_model(username=f"{prefix}{n}") for n in range(count)])

    people, writers = users("rt_r", RECEIVERS), users("rt_a", AUTHORS)
    star, fans, idle = users("rt_star", 1)[0], users("rt_c", crowd), users("rt_i", IDLE_SOCKETS)
    pairs = [(author, people[(n * FRIENDS_PER_AUTHOR + k) % RECEIVERS])
             for n, author in enumerate(writers) for k in range(FRIENDS_PER_AUTHOR)]
    pairs += [(star, fan) for fan in fans]
    Friendship.objects.bulk_create(
        [Friendship(user_low_id=min(a.pk, b.pk), user_high_id=max(a.pk, b.pk)) for a, b in pairs], batch_size=5000
    )
    return {"receivers": [p.pk for p in people], "authors": [w.pk for w in writers], "star": [star.pk],
            "crowd": [f.pk for f in fans], "idle": [i.pk for i in idle]}


class Clients:
    """Open sockets keyed by user id, each with a listener recording (arrival time, frame)."""

    def __init__(self, ws_url: str, tokens: dict[int, str]):
        self.ws_url, self.tokens = ws_url, tokens
        self.sockets: dict[int, object] = {}
        self.frames: dict[int, list[tuple[float, dict]]] = {}
        self.listeners: list[asyncio.Task] = []

    async def open(self, user_ids: list[int]) -> None:
        import websockets

        for start in range(0, len(user_ids), 50):
            batch = user_ids[start:start + 50]
            opened = await asyncio.gather(*(websockets.connect(
                f"{self.ws_url}?token={self.tokens[u]}", max_queue=None, ping_interval=None, open_timeout=120,
            ) for u in batch))
            for user_id, socket in zip(batch, opened, strict=True):
                self.sockets[user_id] = socket
                self.frames[user_id] = []
                self.listeners.append(asyncio.create_task(self._listen(user_id, socket)))

    async def _listen(self, user_id: int, socket) -> None:
        import websockets

        try:
            async for raw in socket:
                self.frames[user_id].append((time.perf_counter(), json.loads(raw)))
        except websockets.ConnectionClosed:
            pass

    def clear(self, user_ids) -> None:
        for user_id in user_ids:
            self.frames[user_id].clear()

    async def close(self, user_ids) -> None:
        for user_id in user_ids:
            await self.sockets[user_id].close()


def notification_arrivals(clients: Clients, user_ids, key: str) -> dict[tuple[int, str], float]:
    """``(user id, data[key]) → arrival`` of every ``notification.created`` frame received."""
    return {(u, str(frame["data"].get(key))): at for u in user_ids for at, frame in clients.frames[u]
            if frame["type"] == "notification.created"}


async def wait_for(predicate, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate() and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)


async def run_rate(stack, clients: Clients, users: dict, rate: float, seconds: float, log_dir: Path) -> dict:
    import httpx

    receivers, authors = users["receivers"], users["authors"]
    friends = {a: [receivers[(n * FRIENDS_PER_AUTHOR + k) % RECEIVERS] for k in range(FRIENDS_PER_AUTHOR)]
               for n, a in enumerate(authors)}
    clients.clear(receivers)
    runs_before, seconds_before = await asyncio.to_thread(stack.task_runs, NOTIFY_TASK)
    sent_at: dict[int, tuple[float, int]] = {}
    http_ms: list[float] = []
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30,
                                 limits=httpx.Limits(max_connections=64)) as http:
        async def post(author: int, n: int):
            started = time.perf_counter()
            response = await http.post(f"/api/Post/users/{author}", json={"content": f"rate {rate} post {n}"},
                                       headers={"Authorization": f"Bearer {clients.tokens[author]}"})
            http_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code == 201:
                sent_at[response.json()["id"]] = (started, author)

        tasks, begin = [], time.perf_counter()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(post(authors[n % len(authors)], n)))
        await asyncio.gather(*tasks)
    expected = {(f, str(p)) for p, (_, a) in sent_at.items() for f in friends[a]}
    await wait_for(lambda: expected <= set(notification_arrivals(clients, receivers, "post_id")), WAIT_AFTER_RUN)
    # Runs of the notification task (each takes a batch of posts); a post still in the
    # pipeline is late, not lost: the drop counters say whether real time lost any.
    runs_after, seconds_after = await asyncio.to_thread(stack.task_runs, NOTIFY_TASK)
    tasks_run = runs_after - runs_before
    arrivals = notification_arrivals(clients, receivers, "post_id")
    latencies = [arrivals[(f, p)] - sent_at[int(p)][0] for f, p in expected if (f, p) in arrivals]
    others = sum(1 for u in receivers for _, f in clients.frames[u] if f["type"] != "notification.created")
    return {"rate": rate, "posts": len(sent_at), "expected": len(expected), "received": len(latencies),
            "missing": len(expected) - len(latencies), "other_frames": others, "notification_tasks_run": tasks_run,
            "notification_task_mean_ms": (seconds_after - seconds_before) / tasks_run * 1000 if tasks_run else float("nan"),
            "p50_ms": percentile(latencies, 50) * 1000, "p95_ms": percentile(latencies, 95) * 1000,
            "max_ms": max(latencies, default=float("nan")) * 1000,
            "http_p50_ms": percentile(http_ms, 50), "http_p95_ms": percentile(http_ms, 95)}


async def push_only_single(clients: Clients, user_ids: list[int], samples: int) -> dict:
    """This process pushes one frame to one online socket, ``samples`` times: call → arrival."""
    from bellamy.realtime.services import push_messages

    latencies = []
    for n in range(samples):
        user_id = user_ids[n % len(user_ids)]
        marker = f"single-{n}"
        started = time.perf_counter()
        await asyncio.to_thread(push_messages, [(user_id, {"type": "notification.created", "data": {"id": marker}})])
        await wait_for(lambda u=user_id, m=marker: (u, m) in notification_arrivals(clients, [u], "id"), 10)
        arrived = notification_arrivals(clients, [user_id], "id").get((user_id, marker))
        if arrived is not None:
            latencies.append(arrived - started)
    return {"samples": samples, "received": len(latencies), "p50_ms": percentile(latencies, 50) * 1000,
            "p95_ms": percentile(latencies, 95) * 1000}


async def run_crowd(stack, clients: Clients, users: dict) -> dict:
    import httpx

    import websockets

    crowd, star = users["crowd"], users["star"][0]
    # How many of the crowd's sockets the server kept open (a socket it closed receives nothing).
    open_before = sum(1 for u in crowd if clients.sockets[u].state is websockets.State.OPEN)
    closed_codes = sorted({clients.sockets[u].close_code for u in crowd
                           if clients.sockets[u].state is not websockets.State.OPEN}, key=str)
    # Push path alone: one call with a distinct frame for each of the crowd's sockets.
    from bellamy.realtime.services import push_messages

    clients.clear(crowd)
    started = time.perf_counter()
    await asyncio.to_thread(push_messages, [(u, {"type": "notification.created", "data": {"id": f"p{u}"}})
                                            for u in crowd])
    call_ms = (time.perf_counter() - started) * 1000
    await wait_for(lambda: len(notification_arrivals(clients, crowd, "id")) >= len(crowd), 60)
    pushed = notification_arrivals(clients, crowd, "id")
    push_last = (max(pushed.values()) - started) * 1000 if pushed else float("nan")
    # Whole path: one post by their friend.
    clients.clear(crowd)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
        started = time.perf_counter()
        response = await http.post(f"/api/Post/users/{star}", json={"content": "one post to a crowd"},
                                   headers={"Authorization": f"Bearer {clients.tokens[star]}"})
        http_ms = (time.perf_counter() - started) * 1000
    post_id = str(response.json()["id"])
    await wait_for(lambda: sum(1 for (_, p) in notification_arrivals(clients, crowd, "post_id") if p == post_id)
                   >= len(crowd), 120)
    got = {u: at for (u, p), at in notification_arrivals(clients, crowd, "post_id").items() if p == post_id}
    others = sum(1 for u in crowd for _, f in clients.frames[u] if f["type"] != "notification.created")
    ordered = sorted(at - started for at in got.values())
    return {"friends": len(crowd), "open": open_before, "close_codes": closed_codes,
            "received": len(got), "other_frames": others, "http_ms": http_ms,
            "first_ms": ordered[0] * 1000 if ordered else float("nan"),
            "p50_ms": percentile(ordered, 50) * 1000, "last_ms": ordered[-1] * 1000 if ordered else float("nan"),
            "push_only": {"received": len(pushed), "call_ms": call_ms, "last_ms": push_last}}


async def check_idle(clients: Clients, idle: list[int], opened_at: float, minutes: float) -> dict:
    import websockets

    from bellamy.realtime.services import push_messages

    await asyncio.sleep(max(0.0, opened_at + minutes * 60 - time.perf_counter()))
    still_open = sum(1 for u in idle if clients.sockets[u].state is websockets.State.OPEN)
    await asyncio.to_thread(push_messages, [(u, {"type": "notification.created", "data": {"id": f"idle{u}"}})
                                            for u in idle])
    await wait_for(lambda: len(notification_arrivals(clients, idle, "id")) >= len(idle), 30)
    received = len(notification_arrivals(clients, idle, "id"))
    return {"sockets": len(idle), "minutes": minutes, "open": still_open, "open_pct": 100.0 * still_open / len(idle),
            "received_pct": 100.0 * received / len(idle)}


async def scenario(stack, users: dict, tokens: dict, args, log_dir: Path) -> dict:
    clients = Clients(stack.base_url.replace("http://", "ws://") + "/ws/", tokens)
    await clients.open(users["idle"])
    idle_opened = time.perf_counter()
    await clients.open(users["receivers"])
    rates = [await run_rate(stack, clients, users, float(r), args.seconds, log_dir) for r in args.rates.split(",")]
    single = await push_only_single(clients, users["receivers"], 200)
    scraped = await asyncio.to_thread(stack.metric_totals)  # /metrics with the sockets still open
    await clients.close(users["receivers"])
    await clients.open(users["crowd"])
    await asyncio.sleep(2)
    crowd = await run_crowd(stack, clients, users)
    await clients.close(users["crowd"])
    idle = await check_idle(clients, users["idle"], idle_opened, args.idle_minutes)
    await clients.close(users["idle"])
    for task in clients.listeners:
        task.cancel()
    return {"rates": rates, "push_only_single": single, "crowd": crowd, "idle": idle, "metrics": scraped}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,50")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--crowd", type=int, default=2000, help="online friends of the crowd phase")
    parser.add_argument("--idle-minutes", type=float, default=10.0)
    parser.add_argument("--store", choices=NOTIFICATION_STORES, default="mongodb",
                        help="the stack's notification store: the MongoDB server (default) or PostgreSQL, "
                             "which separates the MongoDB server's share of the whole path")
    args = parser.parse_args()
    # The stack and this process (which pushes for the baselines) share one Redis key prefix.
    os.environ.setdefault("BELLAMY_KEY_PREFIX", f"benchrt{uuid.uuid4().hex[:6]}")
    setup_django("bellamy_bench_rt")
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    from tests.live_stack import LiveStack

    users = build(args.crowd)
    everyone = [u for group in users.values() for u in group]
    # Tokens outlive the idle phase (the socket closes when its token expires).
    minutes = int(args.idle_minutes) + 30
    tokens = {}
    for user in get_user_model().objects.filter(pk__in=everyone):
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=timedelta(minutes=minutes))
        tokens[user.pk] = str(token)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-rt-"))
    load_before = os.getloadavg()
    with LiveStack(workers=args.workers, log_dir=log_dir, extra_env={
        "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"], "REDIS_URL": os.environ["REDIS_URL"],
        "BELLAMY_KEY_PREFIX": os.environ["BELLAMY_KEY_PREFIX"],
        **notification_store_env(args.store),
    }) as stack:
        results = asyncio.run(scenario(stack, users, tokens, args, log_dir))
        rss = stack.rss_mb()
    from bellamy.realtime.layers import dropped_frames

    results.update({
        "store": args.store, "dropped": dropped_frames(), "rss_mb": rss, "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    })
    single = results["push_only_single"]
    print_table(
        f"Post → friend's socket, {RECEIVERS} sockets, {args.workers} worker process(es), notifications in {args.store}",
        [(r["rate"], r["posts"], f"{r['received']}/{r['expected']}", r["missing"],
          r["notification_tasks_run"], r["notification_task_mean_ms"], r["other_frames"], r["p50_ms"], r["p95_ms"],
          r["max_ms"], r["http_p95_ms"]) for r in results["rates"]],
        ("posts/s", "posts", "received", "missing", "notification task runs (batches)", "its mean ms", "other frames",
         "p50 ms", "p95 ms", "max ms", "POST p95 ms"),
    )
    print(f"  push path alone (1 frame, {single['received']}/{single['samples']}) p50/p95 ms: "
          f"{single['p50_ms']:.1f} / {single['p95_ms']:.1f}; task runs and their mean run time from the stack's /metrics")
    crowd = results["crowd"]
    print_table(
        f"One post to {crowd['friends']:,} online friends ({crowd['open']:,} sockets open at the post"
        + (f", close codes of the others: {crowd['close_codes']})" if crowd["close_codes"] else ")"),
        [("whole path (POST → last socket)", f"{crowd['received']}/{crowd['friends']}", crowd["first_ms"],
          crowd["p50_ms"], crowd["last_ms"]),
         ("push path alone (one call → last socket)", f"{crowd['push_only']['received']}/{crowd['friends']}", "",
          "", crowd["push_only"]["last_ms"])],
        ("", "received", "first ms", "p50 ms", "last ms"),
    )
    idle = results["idle"]
    print(f"\nIdle sockets after {idle['minutes']:g} min: {idle['open']}/{idle['sockets']} open "
          f"({idle['open_pct']:.1f} %), {idle['received_pct']:.1f} % received a push afterwards")
    print("dropped frames:", results["dropped"])
    print("peak RSS MiB:", {k: round(v) for k, v in rss.items()})
    print_metric_totals(results["metrics"])
    print("load average before/after:", [round(x, 1) for x in load_before], [round(x, 1) for x in os.getloadavg()])
    results["targets"] = targets(results)
    print_table(
        "Targets of issue 21 (indicative unless the load average above is low)",
        [(t["target"], t["measured"], t["baseline"], t["verdict"]) for t in results["targets"]],
        ("target", "measured", "baseline (same run)", ""),
    )
    emit(results)
    return results


def targets(results: dict) -> list[dict]:
    """The issue's three targets read against this run's figures: ``{"target", "measured",
    "baseline", "verdict"}`` (``meets``/``misses``; ``not measured`` when the run did not cover
    it, e.g. ``--rates`` without 50 or idle sockets held less than 10 minutes)."""
    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("meets" if ok else "misses")

    rows = []
    fifty = next((r for r in results["rates"] if r["rate"] == 50), None)
    single = results["push_only_single"]
    rows.append({
        "target": f"post → friend's socket p95 ≤ 1000 ms at 50 posts/s, {RECEIVERS} sockets, 0 missing",
        "measured": (f"p95 {fifty['p95_ms']:.0f} ms, {fifty['missing']} missing of {fifty['expected']}"
                     if fifty else "—"),
        "baseline": f"push path alone p95 {single['p95_ms']:.1f} ms",
        "verdict": verdict(None if fifty is None else fifty["p95_ms"] <= 1000 and fifty["missing"] == 0),
    })
    crowd = results["crowd"]
    rows.append({
        "target": f"one post to {crowd['friends']:,} online friends: every socket, the last ≤ 2000 ms",
        "measured": f"{crowd['received']}/{crowd['friends']}, last {crowd['last_ms']:.0f} ms",
        "baseline": f"push path alone last {crowd['push_only']['last_ms']:.0f} ms",
        "verdict": verdict(None if crowd["friends"] < 2000 else
                           crowd["received"] == crowd["friends"] and crowd["last_ms"] <= 2000),
    })
    idle = results["idle"]
    rows.append({
        "target": "idle sockets: 100 % still open after 10 minutes",
        "measured": f"{idle['open_pct']:.1f} % open after {idle['minutes']:g} min ({idle['sockets']} sockets), "
                    f"{idle['received_pct']:.1f} % then received a push",
        "baseline": "—",
        "verdict": verdict(None if idle["minutes"] < 10 else idle["open_pct"] == 100.0),
    })
    return rows


if __name__ == "__main__":
    main()
