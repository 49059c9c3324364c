"""What the metrics cost: the hot-path calls, the request middleware, and a scrape.

1. **Hot-path calls** (``metrics.event_consumed(type)``, ``request_finished``, ``cache_lookup``,
   ``push_sent``, a socket open+close), µs per call, in single-process mode and with
   ``PROMETHEUS_MULTIPROC_DIR`` (memory-mapped files); baseline: a call of an empty function
   with the same arguments, in the same process.
2. **Middleware**: ``GET /healthz`` (the cheapest view: the worst case for a relative overhead)
   through Django's test client with and without the metrics middleware; baseline: without.
3. **Scrape**: rendering ``/metrics`` for a directory written by 8 live processes and 200 dead
   ones (restarts), folded into the archive (``bellamy.metrics.multiprocess``) vs read as they
   are; baseline: the library's stock collector reading the unfolded directory.

Run: ``.venv/bin/python bench/metrics_overhead.py [--calls N] [--dead N]`` (no service needed but
PostgreSQL and Redis for the Django part, as the other benchmarks).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, print_table  # noqa: E402

CALLS = textwrap.dedent("""
    import json, sys, time
    from bellamy import metrics
    calls = int(sys.argv[1])

    def nothing(*args, **kwargs):
        pass

    def timed(func, *args, **kwargs):
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(calls):
                func(*args, **kwargs)
            best = min(best, (time.perf_counter() - started) / calls * 1e6)
        return best

    def socket():
        metrics.socket_opened()
        metrics.socket_closed()

    print(json.dumps({
        "baseline": timed(nothing, "post.created"),
        "event_consumed": timed(metrics.event_consumed, "post.created"),
        "request_finished": timed(metrics.request_finished, method="GET", route="api/feed/", status=200,
                                  seconds=0.012),
        "cache_lookup": timed(metrics.cache_lookup, "feed_page", hit=True),
        "push_sent": timed(metrics.push_sent, "notification.created", 1),
        "socket open+close": timed(socket),
    }))
""")

WRITER = textwrap.dedent("""
    import sys
    from bellamy import metrics
    n = int(sys.argv[1])
    for route in ("api/feed/", "api/Post/users/<id:user_id>", "api/users/<id:pk>", "api/friends/", "healthz"):
        for status in (200, 201, 404):
            metrics.request_finished(method="GET", route=route, status=status, seconds=0.01 * n)
    for t in ("post.created", "post.liked", "comment.created", "content_score.updated"):
        metrics.event_published(t, n)
        metrics.event_consumed(t, n)
    for queue, task in (("scoring", "feed.post_created_task"), ("notifications", "notifications.post_created_task")):
        metrics.task_finished(queue=queue, task=task, outcome="success", seconds=0.05)
        metrics.task_waited(queue=queue, seconds=0.2)
    metrics.cache_lookup("feed_page", hit=True)
    metrics.push_sent("notification.created", n)
    metrics.socket_opened()
    if len(sys.argv) > 2:
        sys.stdin.readline()
""")


def hot_path(calls: int) -> dict[str, dict[str, float]]:
    results = {}
    for mode in ("single", "multi"):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with tempfile.TemporaryDirectory() as directory:
            if mode == "multi":
                env["PROMETHEUS_MULTIPROC_DIR"] = directory
            out = subprocess.run([sys.executable, "-c", CALLS, str(calls)], env=env, cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout
        results[mode] = json.loads(out)
    return results


def middleware(requests: int) -> dict[str, float]:
    from bench._common import setup_django

    setup_django()
    from django.conf import settings
    from django.test import Client
    from django.test.utils import override_settings

    def per_request(stack) -> float:
        with override_settings(MIDDLEWARE=stack):
            client = Client()
            client.get("/healthz")
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                for _ in range(requests):
                    client.get("/healthz")
                best = min(best, (time.perf_counter() - started) / requests * 1e6)
            return best

    with_metrics = list(settings.MIDDLEWARE)
    without = [m for m in with_metrics if not m.startswith("bellamy.metrics.")]
    return {"without": per_request(without), "with": per_request(with_metrics)}


def scrape(dead: int) -> dict[str, float]:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    from bellamy.metrics import multiprocess

    root = Path(tempfile.mkdtemp(prefix="bellamy-metrics-bench-"))
    try:
        directory = root / "metrics"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(directory)}
        live = [subprocess.Popen([sys.executable, "-c", WRITER, str(i), "wait"], env=env, cwd=ROOT,
                                 stdin=subprocess.PIPE, text=True) for i in range(8)]
        for i in range(dead):  # sequentially: each one exits (a restart), leaving its files
            subprocess.run([sys.executable, "-c", WRITER, str(i)], env=env, cwd=ROOT, check=True)
        time.sleep(1.0)  # the 8 live writers have written
        unfolded = root / "unfolded"
        shutil.copytree(directory, unfolded)

        def timed(render, repeat=5) -> float:
            best = float("inf")
            for _ in range(repeat):
                started = time.perf_counter()
                render()
                best = min(best, time.perf_counter() - started)
            return best * 1000

        def stock() -> bytes:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(unfolded))
            return generate_latest(registry)

        def ours() -> bytes:
            multiprocess.sweep(directory)
            registry = CollectorRegistry(auto_describe=False)
            registry.register(multiprocess.ArchiveAwareCollector(directory))
            return generate_latest(registry)

        files_before = len(list(unfolded.glob("*.db")))
        first_sweep = timed(lambda: multiprocess.sweep(directory), repeat=1)
        files_after = len(list(directory.glob("*.db")))
        result = {"files before": files_before, "files after": files_after, "first sweep ms": first_sweep,
                  "stock ms": timed(stock), "archive ms": timed(ours),
                  "same counts": _without_sockets(_counts(stock())) == _without_sockets(_counts(ours())),
                  "sockets": (_counts(stock()).get("bellamy_websocket_connections"),
                              _counts(ours()).get("bellamy_websocket_connections"))}
        for proc in live:
            proc.stdin.write("\n")
            proc.stdin.flush()
            proc.wait(timeout=30)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _counts(exposition: bytes) -> dict:
    """``{sample name + labels: value}`` rounded to 9 significant digits (sums in another order)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {f"{s.name}{sorted(s.labels.items()) if s.labels else ''}": float(f"{s.value:.9g}")
            for family in text_string_to_metric_families(exposition.decode()) for s in family.samples}


def _without_sockets(counts: dict) -> dict:
    return {k: v for k, v in counts.items() if not k.startswith("bellamy_websocket_connections")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--dead", type=int, default=200)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} (shared machine: read the ratios)")

    calls = hot_path(args.calls)
    rows = []
    for name in calls["single"]:
        if name == "baseline":
            continue
        for mode in ("single", "multi"):
            base = calls[mode]["baseline"]
            rows.append((f"{name} ({mode}-process)", round(calls[mode][name], 2), round(base, 2),
                         round(calls[mode][name] / base, 1)))
    print_table("Hot-path calls, µs per call", rows, ("call", "µs", "baseline µs (empty call)", "ratio"))

    http = middleware(args.requests)
    print_table("Middleware, µs per GET /healthz (Django test client)",
                [("with the metrics middleware", round(http["with"], 1), round(http["without"], 1),
                  round(http["with"] / http["without"], 3))],
                ("request", "µs", "baseline µs (without)", "ratio"))

    scraped = scrape(args.dead)
    print_table(f"Scrape of 8 live + {args.dead} dead processes' files",
                [("archive-aware collector after folding", round(scraped["archive ms"], 1),
                  round(scraped["stock ms"], 1), round(scraped["archive ms"] / scraped["stock ms"], 3))],
                ("collector", "ms", "baseline ms (stock, unfolded)", "ratio"))
    print(f"files {scraped['files before']} → {scraped['files after']} (+ the archive) after the first sweep, "
          f"which took {scraped['first sweep ms']:.0f} ms; counters and histograms identical: "
          f"{'yes' if scraped['same counts'] else 'NO'}; open sockets "
          f"stock {scraped['sockets'][0]:.0f} (dead processes' included) vs {scraped['sockets'][1]:.0f}")

    figures = {"calls": calls, "middleware": http, "scrape": scraped}
    if os.environ.get("BELLAMY_BENCH_JSON"):
        Path(os.environ["BELLAMY_BENCH_JSON"]).write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
