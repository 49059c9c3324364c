"""``make bench``: run every benchmark on the production stack and print one table.

Each benchmark script runs in its own process (its own database and Django set-up) with
``BELLAMY_BENCH_JSON`` pointing at a file where it writes its figures; this harness collects
them, prints the summary table — each figure with the baseline measured in the same run, the
ratio, and the target it is read against — and writes everything (including each script's
full output) to ``bench/results/<UTC timestamp>.json``.

Run: ``.venv/bin/python bench/run_all.py [--quick] [--only NAME,...]`` with the services up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

#: name → (script, arguments, arguments with --quick, timeout seconds)
BENCHMARKS = {
    "events_pipeline": ("bench/events_pipeline.py", ["--events", "2000"],
                        ["--events", "500", "--workers", "1,4", "--duration", "20"], 3600),
    "scoring_backfill": ("bench/scoring_backfill.py", [], [], 900),
    "graph_suggestions": ("bench/graph_suggestions.py", ["--users", "200"], ["--users", "100"], 900),
    # SecantusDB lists take ~1 s each (it sorts in memory), hence few samples.
    "notifications_fanout": ("bench/notifications_fanout.py", ["--runs", "3", "--samples", "30"],
                             ["--runs", "1", "--samples", "10", "--sizes", "1000"], 900),
    "feed_latency": ("bench/feed_latency.py", [], ["--requests", "20"], 900),
    # Idle sockets are held --idle-minutes while the rate and crowd phases run (run_all's
    # --idle-minutes: 10 by default, 1 with --quick; the timeout grows with it).
    "realtime_latency": ("bench/realtime_latency.py", ["--seconds", "15", "--workers", "2"],
                         ["--seconds", "8", "--workers", "2", "--crowd", "500"], 1200),
    "http_load": ("bench/http_load.py", [], ["--quick"], 2400),
    "search_latency": ("bench/search_latency.py", [], ["--requests", "10", "--write-rounds", "50"], 900),
    "account_erasure": ("bench/account_erasure.py", [], [], 900),
    "metrics_overhead": ("bench/metrics_overhead.py", [], ["--calls", "20000", "--requests", "500", "--dead", "50"], 900),
}


def run(name: str, quick: bool, idle_minutes: float | None = None) -> dict:
    script, args, quick_args, timeout = BENCHMARKS[name]
    if name == "realtime_latency":
        minutes = idle_minutes if idle_minutes is not None else (1.0 if quick else 10.0)
        args, quick_args = [*args, "--idle-minutes", f"{minutes:g}"], [*quick_args, "--idle-minutes", f"{minutes:g}"]
        timeout += int(minutes * 60)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    env = {**os.environ, "BELLAMY_BENCH_JSON": str(out), "PYTHONUNBUFFERED": "1"}
    print(f"==> {name}: {script} {' '.join(quick_args if quick else args)}", flush=True)
    started = time.perf_counter()
    try:
        proc = subprocess.run([PY, script, *(quick_args if quick else args)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
        output, code = proc.stdout + proc.stderr[-4000:], proc.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = f"timed out after {timeout}s\n{exc.stdout or ''}", -1
    seconds = time.perf_counter() - started
    figures = json.loads(out.read_text()) if out.exists() and out.stat().st_size else None
    out.unlink(missing_ok=True)
    status = "ok" if code == 0 else f"failed ({code})"
    print(f"    {status} in {seconds:.0f}s", flush=True)
    return {"status": status, "seconds": seconds, "figures": figures, "output": proc_tail(output)}


def proc_tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _get(results: dict, name: str, *path):
    value = (results.get(name) or {}).get("figures")
    for key in path:
        if not isinstance(value, (dict, list)):
            return None
        value = value[key] if isinstance(value, list) else value.get(key)
    return value


def summary(results: dict) -> list[tuple]:
    """Rows ``(figure, value, baseline, ratio, target, verdict)`` of the targets of issue 12."""
    rows = []

    def row(figure, value, baseline, ratio, target, ok):
        verdict = "" if ok is None else ("meets" if ok else "misses")
        rows.append((figure, value, baseline, ratio, target, verdict))

    http = _get(results, "http_load", "http") or {}
    if "post_c16" in http:
        healthz = http["healthz_c16"]["per_second"]
        row("GET /healthz req/s (c16), same server", healthz, "", "", "", None)
        post, bare = http["post_c16"]["per_second"], http["bare_c16"]["per_second"]
        row("post creation req/s (c16) vs bare insert endpoint", post, bare, post / bare, "≥ 0.7×", post / bare >= 0.7)
        row("post creation req/s (c16) vs /healthz", post, healthz, post / healthz, "≥ 150 req/s", post >= 150)
        p50 = http["post_c1"]["p50_ms"]
        row("post creation p50 ms (c1) vs bare insert p50", p50, http["bare_c1"]["p50_ms"],
            p50 / http["bare_c1"]["p50_ms"], "≤ 15 ms", p50 <= 15)
        feed, uncached = http["feed_cached_c16"]["per_second"], http["feed_uncached_c16"]["per_second"]
        row("cached feed req/s (c16) vs uncached", feed, uncached, feed / uncached, "≥ 300 req/s", feed >= 300)
        deep, first = http["author_posts_page1000_c1"]["p50_ms"], http["author_posts_page1_c1"]["p50_ms"]
        row("author posts page 1,000 of 20,000 p50 ms vs page 1", deep, first, deep / first, "≤ 1.5×", deep / first <= 1.5)
        row("load average (1 min) before / after the HTTP load", http["load_average_before"][0],
            http["load_average_after"][0], "", "", None)
        dead = _get(results, "http_load", "dead_letters")
        if dead is not None:
            row("dead letters during the HTTP load (events a task gave up on)", dead, "", "", "0", dead == 0)
    feed = _get(results, "feed_latency", "ranked")
    if feed:
        row("cached ranked feed p50 ms vs uncached (1k friends, 100k posts)", feed["cached_p50_ms"],
            feed["uncached_p50_ms"], feed["ratio_p50"], "≤ 0.25×", feed["ratio_p50"] <= 0.25)
    rates = _get(results, "realtime_latency", "rates") or []
    single = _get(results, "realtime_latency", "push_only_single") or {}
    for r in rates:
        row(f"post → friend socket p95 ms at {r['rate']:.0f} posts/s (200 sockets) vs push path alone",
            r["p95_ms"], single.get("p95_ms", ""), r["p95_ms"] / single["p95_ms"] if single.get("p95_ms") else "",
            "≤ 1000 ms at 50/s" if r["rate"] == 50 else "", r["p95_ms"] <= 1000 if r["rate"] == 50 else None)
        row(f"pushes missing after the run at {r['rate']:.0f} posts/s (of {r['expected']})", r["missing"], "", "",
            "0", r["missing"] == 0)
    crowd = _get(results, "realtime_latency", "crowd")
    if crowd:
        push_last = crowd["push_only"]["last_ms"]
        row(f"one post → last of {crowd['friends']:,} online friends ms ({crowd['received']} received) vs push path alone",
            crowd["last_ms"], push_last, crowd["last_ms"] / push_last if push_last else "", "≤ 2000 ms, all",
            crowd["last_ms"] <= 2000 and crowd["received"] == crowd["friends"])
    idle = _get(results, "realtime_latency", "idle")
    if idle:
        row(f"idle sockets still open after {idle['minutes']:g} min, % ({idle['sockets']} sockets)",
            idle["open_pct"], "", "", "100 % after ≥ 10 min", idle["open_pct"] == 100.0 and idle["minutes"] >= 10)
        row(f"idle sockets receiving a push after {idle['minutes']:g} min, %", idle["received_pct"], "", "", "100 %",
            idle["received_pct"] == 100.0)
    load = _get(results, "realtime_latency", "load_average_before")
    if load:
        row("load average (1 min) before / after the realtime benchmark", load[0],
            _get(results, "realtime_latency", "load_average_after")[0], "", "", None)
    raw = _get(results, "events_pipeline", "raw", "per_second")
    for p in _get(results, "events_pipeline", "pipeline") or []:
        ratio = p["events_per_second"] / raw if raw else None
        target = p["workers"] == 4 and p.get("store", "mongodb") == "mongodb"
        store = "" if p.get("store", "mongodb") == "mongodb" else ", notifications in the ORM store"
        row(f"post.created events/s through every worker task, {p['workers']} worker process(es){store}, vs raw "
            "kafka-python consume", p["events_per_second"], raw, ratio,
            "≥ 0.5×" if target else "", ratio >= 0.5 if target and ratio is not None else None)
    backbone = _get(results, "events_pipeline", "framework", "per_second")
    if raw and backbone:
        row("backbone alone (forwarder + no-op batch task) events/s vs raw kafka-python consume", backbone, raw,
            backbone / raw, "", None)
    for sustained in _get(results, "events_pipeline", "sustained") or []:
        after = sustained["all_clear_after_s"]
        store = "" if sustained.get("store", "mongodb") == "mongodb" else " (notifications in the ORM store)"
        row(f"seconds until lag and queues are zero after {sustained['rate']:g} posts/s for "
            f"{sustained['duration']:g} s{store}", after if after is not None else "not drained", "", "", "≤ 2 s",
            after is not None and after <= 2)
    rss = _get(results, "http_load", "rss_mb") or {}
    if "web" in rss:
        processes = _get(results, "http_load", "web_processes") or 1
        per_process = rss["web"] / processes
        row(f"web server RSS MiB per process ({processes} processes + Granian's main)", per_process, "", "", "≤ 250",
            per_process <= 250)
    for proc_name, mib in rss.items():
        if proc_name != "web":
            row(f"{proc_name} process RSS MiB", mib, "", "", "", None)
    for label in ("orm (PostgreSQL)", "mongo (SecantusDB)"):
        fanout = _get(results, "notifications_fanout", label) or {}
        for n in (1000, 5000):
            if f"fanout_{n}_seconds" in fanout:
                row(f"notification fan-out to {n:,} friends, seconds, {label}", fanout[f"fanout_{n}_seconds"],
                    "", "", "", None)
        listing = fanout.get("list first page (20)")
        if listing:
            row(f"notification list p50 ms (10,000 stored), {label}", listing["p50_ms"], "", "", "", None)
    search = _get(results, "search_latency", "all")
    if search:
        row("posts search p95 ms (100k posts, 1k friends, query mix) vs plain SQL full-text query",
            search["search_p95_ms"], search["plain_p95_ms"], search["ratio_p95"], "≤ 50 ms, ≤ 2×",
            search["search_p95_ms"] <= 50 and search["ratio_p95"] <= 2)
        row("posts search API request p95 ms (same mix)", search["api_p95_ms"], search["plain_p95_ms"],
            search["api_p95_ms"] / search["plain_p95_ms"], "", None)
    writes = _get(results, "search_latency", "write_cost")
    if writes:
        row("post + hashtag insert p50 ms with search triggers vs without", writes["with_triggers_p50_ms"],
            writes["without_p50_ms"], writes["ratio_p50"], "", None)
    scoring = _get(results, "scoring_backfill")
    if scoring:
        row("scores backfilled posts/s (100k posts) vs GROUP BY counts", scoring["posts_per_second"],
            scoring["baseline_posts_per_second"], scoring["ratio"], "", None)
    erasure = _get(results, "account_erasure")
    if erasure:
        row("erasure seconds, user with 10k posts and 1k friends, every store vs PostgreSQL cascade only",
            erasure["seconds"], erasure["baseline_seconds"], erasure["ratio"], "nothing remains",
            erasure["remaining"] == 0)
    for backend in ("orm", "neo4j"):
        graph = _get(results, "graph_suggestions", backend)
        if graph:
            row(f"suggestions p50 ms, {backend} store (ego-Facebook) vs plain SQL", graph["p50_ms"],
                _get(results, "graph_suggestions", "sql baseline", "p50_ms"), graph["ratio_p50"], "", None)
    http = _get(results, "metrics_overhead", "middleware")
    if http:
        row("GET /healthz µs with the metrics middleware vs without", http["with"], http["without"],
            http["with"] / http["without"], "", None)
    scraped = _get(results, "metrics_overhead", "scrape")
    if scraped:
        row("/metrics render ms, dead processes folded vs stock collector", scraped["archive ms"],
            scraped["stock ms"], scraped["archive ms"] / scraped["stock ms"], "", None)
    return rows


def print_summary(rows: list[tuple]) -> None:
    def fmt(value):
        if isinstance(value, float):
            return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
        return str(value)

    header = ("figure", "value", "baseline", "ratio", "target", "")
    cells = [header] + [tuple(fmt(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print()
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test of the harness)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--idle-minutes", type=float, default=None,
                        help="how long realtime_latency holds its idle sockets (default 10; 1 with --quick)")
    args = parser.parse_args()
    names = [n for n in BENCHMARKS if not args.only or n in args.only.split(",")]
    started = time.perf_counter()
    results = {name: run(name, args.quick, args.idle_minutes) for name in names}
    rows = summary(results)
    print_summary(rows)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = ROOT / "bench" / "results" / f"{stamp}.json"
    path.write_text(json.dumps({"started": stamp, "quick": args.quick, "seconds": time.perf_counter() - started,
                                "summary": [dict(zip(("figure", "value", "baseline", "ratio", "target", "verdict"), r, strict=True)) for r in rows],
                                "benchmarks": results}, indent=2, default=str))
    print(f"\n{len(names)} benchmarks in {time.perf_counter() - started:.0f}s; results in {path.relative_to(ROOT)}")
    return 0 if all(r["status"] == "ok" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
