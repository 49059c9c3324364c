"""``manage.py demo_run`` as ``make demo EMBEDDED=1`` runs it, in a process of its own, and what
it prints (issue 22, item 11): no kombu warning, and stages that say what they did.

The run uses the Makefile's embedded environment (SQLite file, in-process events, eager Celery,
ORM stores, ``BELLAMY_LOG_LEVEL=WARNING``) on a slice: the first 30 tweets (the newest 5 live)
and the ego-Facebook edges of their authors. A fresh interpreter matters: kombu logs its
warning when the process's first eager task builds Celery's producer pool. Expected numbers
come from the raw files with plain Python.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.demo.test_demo_run import DATASETS, node_of_author, raw_tweets, valid_tags

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TWEETS, LIVE = 30, 5
#: The Makefile's DEMO_EMBEDDED_ENV.
EMBEDDED_ENV = {
    "DJANGO_DEBUG": "1", "DATABASE_REPLICA_URL": "", "REDIS_URL": "", "CELERY_BROKER_URL": "",
    "BELLAMY_EVENTS_URL": "", "BELLAMY_NOTIFICATIONS_URL": "", "BELLAMY_GRAPH_URL": "", "BELLAMY_LOG_LEVEL": "WARNING",
}


def at(row: dict) -> datetime:
    return datetime.strptime(row["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory) -> str:
    """stdout + stderr of ``migrate`` and ``demo_run`` in a fresh embedded process."""
    tmp = tmp_path_factory.mktemp("embedded-demo")
    authors = {node_of_author(row["author_id"]) for row in raw_tweets(TWEETS)}
    with open(DATASETS / "ego_facebook" / "facebook_combined.txt") as source:
        lines = [line for line in source if {int(n) for n in line.split()} & authors]
    edges = tmp / "edges.txt"
    edges.write_text("".join(lines))
    env = {**os.environ, **EMBEDDED_ENV, "DATABASE_URL": f"sqlite:///{tmp / 'demo.sqlite3'}"}
    output = ""
    for command in (["migrate", "--noinput"],
                    ["demo_run", "--subset", str(TWEETS), "--live-posts", str(LIVE), "--messages", "0",
                     "--edges", str(edges), "--no-progress", "--no-analytics"]):
        result = subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=240)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        output += result.stdout + result.stderr if command[0] == "demo_run" else result.stderr
    return output


def stage(output: str, name: str) -> str:
    """The summary printed after ``[   1.2 s] <name>: ``."""
    (summary,) = re.findall(rf"^\[ *\d+\.\d s\] {re.escape(name)}: (.*)$", output, flags=re.MULTILINE)
    return summary


def test_an_embedded_run_prints_no_kombu_warning_and_no_warning_at_all(embedded_run):
    # then: no "No hostname was supplied" (eager tasks took a producer of a host-less
    # memory:// broker), and no other warning or error log line either
    assert "kombu" not in embedded_run
    assert "No hostname was supplied" not in embedded_run
    assert re.findall(r"^.* (WARNING|ERROR|CRITICAL) .*$", embedded_run, flags=re.MULTILINE) == []
    # and the run did reach the live phase (eager tasks ran) and the report
    assert re.search(rf"imported live {LIVE} tweets", stage(embedded_run, "4 live posts through the pipeline"))
    assert "Bellamy Book demo report — embedded default" in embedded_run


def test_the_trend_backfill_stage_reports_the_buckets_it_built_not_empty_trends(embedded_run):
    # given: the bulk rows' hashtag uses per (tag, hour) and (tag, hour, author user)
    bulk = raw_tweets(TWEETS)[:-LIVE]
    uses = [(tag, at(row).replace(minute=0, second=0), node_of_author(row["author_id"]))
            for row in bulk for tag in valid_tags(row["hashtags"])]

    # then: stage 3b says what it built, and that the trends come after the live posts
    assert stage(embedded_run, "3b backfill trend buckets") == (
        f"{len(uses)} hashtag uses in {len({(t, h) for t, h, _a in uses})} hour buckets "
        f"({len(set(uses))} hashtag/hour/author rows); trends are ranked after the live posts (5a)")
    assert len(uses) == 59


def test_no_line_reports_0_trends_as_if_a_stage_failed(embedded_run):
    # then: neither the backfill stage (which no longer ranks) nor the final ranking (whose 1h
    # window is empty on this slice: "1h nothing trending") prints "0 trends"
    assert re.findall(r"^.*\b0 trends\b.*$", embedded_run, flags=re.MULTILINE) == []
    # (and the stage lines it checked are all there)
    assert re.findall(r"^\[ *\d+\.\d s\] (\d[a-z]? [^:]*):", embedded_run, flags=re.MULTILINE) == [
        "1 ego-Facebook users + friendships", "2 tweets bulk load", "3a backfill content scores",
        "3b backfill trend buckets", "3c backfill graph projection", "3d CollegeMsg interaction weights",
        "4 live posts through the pipeline", "5a trends as of newest post",
    ]


def test_the_final_trend_stage_counts_what_trends(embedded_run):
    # given: every row is within the corpus's first day, so each window's baseline periods are
    # empty (expected = 1) and a tag trends iff 2+ distinct author users used it in the window;
    # its score is (authors - 1)² decayed by the hours from its last bucket's end to the end
    rows = raw_tweets(TWEETS)
    newest = at(rows[-1])
    end = newest.replace(minute=0, second=0) + timedelta(hours=1)
    parts = []
    for window, length in (("1h", timedelta(hours=1)), ("24h", timedelta(days=1)), ("7d", timedelta(days=7))):
        authors, posts, last = defaultdict(set), defaultdict(int), {}
        for row in rows:
            if end - length <= at(row) < end:
                for tag in valid_tags(row["hashtags"]):
                    authors[tag].add(node_of_author(row["author_id"]))
                    posts[tag] += 1
                    last[tag] = max(last.get(tag, at(row)), at(row))
        half_life = length.total_seconds() / 3600 / 4
        idle = {t: (end - last[t].replace(minute=0, second=0)).total_seconds() / 3600 - 1 for t in last}
        scored = [((len(a) - 1) ** 2 * 0.5 ** (idle[t] / half_life), len(a), posts[t], t)
                  for t, a in authors.items() if len(a) >= 2]
        top = [t for *_k, t in sorted(scored, key=lambda s: (-s[0], -s[1], -s[2], s[3]))][:5]
        parts.append(f"{window} {len(scored)} trending (top: {', '.join('#' + t for t in top)})" if scored
                     else f"{window} nothing trending")

    # then
    assert stage(embedded_run, "5a trends as of newest post") == f"as of {newest.isoformat()}: " + " | ".join(parts)
    # (not a vacuous check: 8 hashtags of the slice trend over 24 h and 7 d, none in the last hour)
    assert [part.split(" (")[0] for part in parts] == ["1h nothing trending", "24h 8 trending", "7d 8 trending"]
