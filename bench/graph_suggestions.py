#!/usr/bin/env python
"""Benchmark: friend suggestions on the SNAP ego-Facebook graph, ORM store vs Neo4j.

Usage (from the project root; the caller may give the database — default ``bellamy_bench``,
created and migrated by ``bench._common.setup_django``)::

    DATABASE_URL=postgres://bellamy:bellamy@127.0.0.1:5432/bellamy_bench \\
    BELLAMY_BENCH_NEO4J_URL=bolt://neo4j:neo4j@127.0.0.1:7687 \\
    DJANGO_SECRET_KEY=... .venv/bin/python bench/graph_suggestions.py [--users 200] [--limit 10]

Steps: import the edge list into PostgreSQL (users ``fb<node>`` + friendships, through
``manage.py graph_import_edges`` with the ORM store); time a bulk load of the same edges into
each store (ORM store emptied first; the benchmark's own Neo4j namespace, ``bench_graph_suggestions``,
cleared first — no other namespace on the server is touched); then time ``store.suggestions(user, limit)`` for the same seeded
random users on each backend, and a plain-SQL friends-of-friends count on the source-of-truth
``Friendship`` table as the baseline. Prints a table. The Neo4j nodes it wrote are deleted at the
end (``--keep`` keeps them).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "ego_facebook" / "facebook_combined.txt"

BASELINE_SQL = """
WITH f AS (SELECT user_high_id AS id FROM {t} WHERE user_low_id = %s
           UNION ALL SELECT user_low_id FROM {t} WHERE user_high_id = %s),
fof AS (SELECT e.user_high_id AS c FROM f JOIN {t} e ON e.user_low_id = f.id
        UNION ALL SELECT e.user_low_id FROM f JOIN {t} e ON e.user_high_id = f.id)
SELECT c, COUNT(*) AS mutual FROM fof WHERE c <> %s AND c NOT IN (SELECT id FROM f)
GROUP BY c ORDER BY mutual DESC, c LIMIT %s
"""


def timed(func, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=Path(os.environ.get("BELLAMY_EGO_FACEBOOK", DEFAULT_DATASET)))
    parser.add_argument("--users", type=int, default=200, help="random users measured per backend")
    parser.add_argument("--limit", type=int, default=10, help="suggestions per query")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the Neo4j nodes written")
    args = parser.parse_args()

    from bench._common import percentile, setup_django

    setup_django("bellamy_bench")  # DATABASE_URL etc. from the caller win; migrates
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from graph.models import Friendship
    from graph.stores.neo4j import Neo4jGraphStore
    from graph.stores.orm import OrmGraphStore

    neo4j_url = os.environ.get("BELLAMY_BENCH_NEO4J_URL", "bolt://neo4j:neo4j@127.0.0.1:7687")
    print(f"database {connection.settings_dict['NAME']}, Neo4j {neo4j_url.rsplit('@', 1)[-1]}, "
          f"dataset {args.dataset.name}")

    # 1. PostgreSQL source of truth + ORM store, through the import command. The dataset's
    #    friendships of a previous run are deleted first so the figure is a fresh import
    #    (its users are kept: the command skips existing usernames).
    Friendship.objects.filter(user_low__username__startswith="fb",
                              user_high__username__startswith="fb")._raw_delete("default")
    seconds, _ = timed(call_command, "graph_import_edges", str(args.dataset), batch_size=20000, verbosity=0)
    User = get_user_model()
    uid = dict(User.objects.filter(username__startswith="fb").values_list("username", "id"))
    pairs = []
    for line in args.dataset.read_text().split("\n"):
        if line.strip():
            a, b = line.split()
            pairs.append((uid[f"fb{a}"], uid[f"fb{b}"]))
    user_ids = sorted(uid.values())
    print(f"PostgreSQL: {len(uid)} users, {Friendship.objects.count()} friendships "
          f"(import command, incl. ORM store: {seconds:.1f} s)")

    orm = OrmGraphStore()
    # Its own namespace on the shared server: clearing it touches no other deployment's graph.
    neo4j = Neo4jGraphStore(url=neo4j_url, namespace="bench_graph_suggestions")
    neo4j.install_schema()

    def delete_bench_nodes():
        neo4j.clear(force=True)

    # 2. Bulk load of the store alone, both backends, from empty.
    orm.clear(force=True)
    orm_import, _ = timed(orm.bulk_add_friendships, pairs)
    delete_bench_nodes()
    neo_import, _ = timed(neo4j.bulk_add_friendships, pairs)
    print(f"stores: ORM {orm.stats()}, Neo4j import done")

    # 3. Suggestion latency on the same random users.
    sample = random.Random(args.seed).sample(user_ids, args.users)
    table = Friendship._meta.db_table
    baseline_sql = BASELINE_SQL.format(t=table)

    def baseline(user_id: int):
        with connection.cursor() as cursor:
            cursor.execute(baseline_sql, [user_id, user_id, user_id, args.limit])
            return cursor.fetchall()

    results = {}
    for name, query in [("orm", lambda u: orm.suggestions(u, args.limit)),
                        ("neo4j", lambda u: neo4j.suggestions(u, args.limit)),
                        ("sql baseline", baseline)]:
        for user_id in sample[:10]:  # warm-up (plans, caches)
            query(user_id)
        latencies, answers = [], {}
        for user_id in sample:
            seconds, answer = timed(query, user_id)
            latencies.append(seconds * 1000)
            answers[user_id] = [(s[0], s[1]) if isinstance(s, tuple) else (s.user_id, s.mutual_friends)
                                for s in answer]
        results[name] = (latencies, answers)

    agree = sum(results["orm"][1][u] == results["neo4j"][1][u] == results["sql baseline"][1][u] for u in sample)
    base_p50 = statistics.median(results["sql baseline"][0])
    print()
    print(f"ego-Facebook: {len(uid)} users, {len(pairs)} friendships; {args.users} random users, limit {args.limit}")
    print(f"{'backend':<14}{'import s':>10}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'max ms':>10}{'p50 / SQL':>11}")
    for name, imported in [("orm", orm_import), ("neo4j", neo_import), ("sql baseline", None)]:
        lat = results[name][0]
        p50 = statistics.median(lat)
        print(f"{name:<14}{(f'{imported:.1f}' if imported is not None else '-'):>10}{p50:>10.2f}"
              f"{percentile(lat, 95):>10.2f}{statistics.fmean(lat):>10.2f}{max(lat):>10.2f}"
              f"{p50 / base_p50:>10.2f}x")
    print(f"identical (user, mutual) lists on all three: {agree}/{args.users}")
    from bench._common import emit

    emit({
        name: {"import_seconds": imported, "p50_ms": statistics.median(results[name][0]),
               "p95_ms": percentile(results[name][0], 95), "max_ms": max(results[name][0]),
               "ratio_p50": statistics.median(results[name][0]) / base_p50}
        for name, imported in [("orm", orm_import), ("neo4j", neo_import), ("sql baseline", None)]
    } | {"identical": agree, "users": args.users})

    if not args.keep:
        delete_bench_nodes()
    neo4j.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
