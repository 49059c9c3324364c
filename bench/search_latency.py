"""Benchmark: posts search latency with the visibility rules vs a plain full-text query.

Data (built once per database, ``--reset`` rebuilds): a viewer with 1,000 friends, 1,000
other users (10 blocked by the viewer, 10 blocking the viewer) and 100,000 posts whose text
and hashtags are the real tweets of ``pfizer_vaccine_tweets.csv.gz`` (read in place, cycled;
one post a minute back from now), 70 % public, 20 % friends-only, 10 % private, 1 % hidden by
a moderator, 1 % deleted. Posts are bulk-inserted, so the search triggers index them as an
import would (the build time is printed).

Measured on PostgreSQL, first page of 20, for a mix of queries from rare to common
(``--requests`` each, after one warm-up):

- **plain**: the same full-text query on the same index with the same ranking, without any
  visibility rule: ``SELECT post_id FROM search_post_document WHERE document @@ q ORDER BY
  score DESC LIMIT 20`` (hashtag queries: the same over the hashtag's posts);
- **search**: the store's query as the API runs it (parsing the query, resolving a hashtag,
  the ranked ids of the page), with the viewer's visibility subquery
  (``posts.selectors.visible_posts``) — the ratio search / plain is the cost of visibility;
- **api**: the whole request ``GET /api/search?q=…`` through the DRF test client (JWT auth,
  the store's query, loading and serializing the 20 posts).

It also measures what the index costs writers: single-post transactions (a post and its
hashtag link) with the search triggers enabled and disabled, interleaved.

Run: ``.venv/bin/python bench/search_latency.py`` with the services running. The machine
is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import time
from pathlib import Path
from urllib.parse import urlencode

from _common import ROOT, emit, percentile, print_table, setup_django

#: The tweet corpus, read in place (``BELLAMY_DATASETS_DIR``, else ``../shared/datasets`` beside the checkout).
CORPUS_PATH = ("posts", "pfizer_vaccine_tweets.csv.gz")

#: (label, query, selectivity class)
QUERIES = [
    ("kariko", "kariko", "rare"),
    ("tureci", "tureci", "rare"),
    ("moderna", "moderna", "medium"),
    ("astrazeneca", "astrazeneca", "medium"),
    ('"second dose"', '"second dose"', "medium"),
    ("#covid19", "#covid19", "medium"),
    ("arm sore", "arm sore", "medium"),
    ("booster", "booster", "medium"),
    ("pfizer", "pfizer", "common"),
    ("vaccine", "vaccine", "common"),
]


def corpus_path() -> Path:
    """The corpus under ``$BELLAMY_DATASETS_DIR``, else ``<repo>/../shared/datasets`` (the
    datasets convention of the importers; the benchmark imports no top-floor sibling)."""
    override = os.environ.get("BELLAMY_DATASETS_DIR")
    return (Path(override) if override else ROOT.parent / "shared" / "datasets").joinpath(*CORPUS_PATH)


def build(posts: int, friends: int, reset: bool) -> int:
    """Create the data set once (idempotent by username); return the viewer's id."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from graph.models import Block, Friendship
    from posts.models import Hashtag, Post, PostHashtag
    from posts.parsing import HASHTAG_MAX_LENGTH, normalize_hashtag

    user_model = get_user_model()
    viewer = user_model.objects.filter(username="bench_viewer").first()
    if viewer and not reset and Post.objects.count() >= posts:
        return viewer.pk
    with gzip.open(corpus_path(), "rt", encoding="utf-8", newline="") as handle:
        tweets = [(row["text"] or "(empty)", json.loads(row["hashtags"] or "[]")) for row in csv.DictReader(handle)]
    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE posts_posthashtag, posts_postmention, posts_like, posts_comment, posts_report, "
                           "posts_moderationaction, posts_post, posts_hashtag CASCADE")
        user_model.objects.filter(username__startswith="bench_").delete()
        viewer = user_model.objects.create(username="bench_viewer", display_name="Bench Viewer")
        people = user_model.objects.bulk_create(
            [user_model(username=f"bench_{'f' if n < friends else 's'}{n}", display_name=f"Bench {n}")
             for n in range(2 * friends)], batch_size=2000,
        )
        Friendship.objects.bulk_create(
            [Friendship(user_low_id=min(viewer.pk, p.pk), user_high_id=max(viewer.pk, p.pk)) for p in people[:friends]],
            batch_size=2000,
        )
        strangers = people[friends:]
        Block.objects.bulk_create([Block(blocker=viewer, blocked=p) for p in strangers[:10]]
                                  + [Block(blocker=p, blocked=viewer) for p in strangers[10:20]])
        rng = random.Random(19)
        now = timezone.now()
        rows, tags = [], []
        for n in range(posts):
            text, hashtags = tweets[n % len(tweets)]
            roll = rng.random()
            visibility = "public" if roll < 0.7 else "friends" if roll < 0.9 else "private"
            rows.append(Post(
                author_id=people[rng.randrange(len(people))].pk, content=text[:5000], visibility=visibility,
                created_at=now - timezone.timedelta(minutes=n),
                moderation_state="hidden" if rng.random() < 0.01 else "visible",
                deleted_at=now if rng.random() < 0.01 else None,
            ))
            names = [normalize_hashtag(t) for t in hashtags]
            tags.append([t for t in dict.fromkeys(names) if t and len(t) <= HASHTAG_MAX_LENGTH])
        created = Post.objects.bulk_create(rows, batch_size=5000)
        names = sorted({t for ts in tags for t in ts})
        Hashtag.objects.bulk_create([Hashtag(name=t) for t in names], batch_size=5000)
        ids = dict(Hashtag.objects.values_list("name", "id"))
        PostHashtag.objects.bulk_create(
            [PostHashtag(post_id=p.pk, hashtag_id=ids[t]) for p, ts in zip(created, tags) for t in ts], batch_size=5000
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"data set built in {time.perf_counter() - started:.1f}s: {posts} posts indexed by the triggers "
          f"on insert, {friends} friends")
    return viewer.pk


def plain_sql(text: str) -> tuple[str, list]:
    """The baseline: the store's full-text query and ranking without the visibility rules."""
    from search.query import parse_post_query
    from search.stores.base import RECENCY_PER_SECOND
    from search.stores.postgres import _RECENCY_SCORE, _TEXT_SCORE, _tsquery

    query = parse_post_query(text)
    if query.has_text:
        tsq, params = _tsquery(query)
        score = _TEXT_SCORE.format(tsq=tsq, k="%s")
        return (f"SELECT d.post_id, {score} AS score FROM search_post_document d WHERE d.document @@ {tsq} "
                "ORDER BY score DESC, d.post_id DESC LIMIT 20", [*params, RECENCY_PER_SECOND, *params])
    score = _RECENCY_SCORE.format(k="%s")
    return (f"SELECT d.post_id, {score} AS score FROM search_post_document d JOIN posts_posthashtag t "
            "ON t.post_id = d.post_id JOIN posts_hashtag h ON h.id = t.hashtag_id WHERE h.name = %s "
            "ORDER BY score DESC, d.post_id DESC LIMIT 20", [RECENCY_PER_SECOND, query.hashtags[0]])


def matches_sql(text: str) -> tuple[str, list]:
    """How many live posts match ``text`` (any visibility)."""
    from search.query import parse_post_query
    from search.stores.postgres import _tsquery

    query = parse_post_query(text)
    if query.has_text:
        tsq, params = _tsquery(query)
        return f"SELECT count(*) FROM search_post_document d WHERE d.document @@ {tsq}", params
    return ("SELECT count(*) FROM search_post_document d JOIN posts_posthashtag t ON t.post_id = d.post_id "
            "JOIN posts_hashtag h ON h.id = t.hashtag_id WHERE h.name = %s", [query.hashtags[0]])


def measure(viewer_id: int, requests: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    from posts.models import Hashtag
    from posts.selectors import visible_posts
    from search.query import parse_post_query
    from search.stores import get_search_store

    viewer = get_user_model().objects.get(pk=viewer_id)
    store = get_search_store()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(viewer).access_token}")
    results = {}
    all_plain, all_search, all_api = [], [], []
    for label, text, kind in QUERIES:
        sql, params = plain_sql(text)
        plain, search, api = [], [], []
        for n in range(requests + 1):
            start = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                plain_ids = [row[0] for row in cursor.fetchall()]
            elapsed_plain = time.perf_counter() - start
            start = time.perf_counter()
            query = parse_post_query(text)
            tag_ids = list(Hashtag.objects.filter(name__in=query.hashtags).values_list("id", flat=True))
            hits = store.search_posts(query, visible=visible_posts(viewer, details=False), hashtag_ids=tag_ids,
                                      mention_ids=[], limit=21)
            elapsed_search = time.perf_counter() - start
            start = time.perf_counter()
            response = client.get("/api/search?" + urlencode({"q": text, "type": "posts"}))
            elapsed_api = time.perf_counter() - start
            assert response.status_code == 200, response.content
            if n == 0:  # warm-up; also check the pages are what they claim
                api_ids = [post["id"] for post in response.json()["results"]]
                assert api_ids == [hit.id for hit in hits[:20]] and len(api_ids) == 20, label
                # every post of the plain page that the viewer may see is on the search page
                visible = set(visible_posts(viewer, details=False).filter(pk__in=plain_ids).values_list("pk", flat=True))
                assert visible <= set(api_ids), label
                continue
            plain.append(elapsed_plain)
            search.append(elapsed_search)
            api.append(elapsed_api)
        with connection.cursor() as cursor:
            cursor.execute(*matches_sql(text))
            matches = cursor.fetchone()[0]
        all_plain += plain
        all_search += search
        all_api += api
        results[label] = {
            "kind": kind, "matches": matches,
            "plain_p50_ms": percentile(plain, 50) * 1000, "plain_p95_ms": percentile(plain, 95) * 1000,
            "search_p50_ms": percentile(search, 50) * 1000, "search_p95_ms": percentile(search, 95) * 1000,
            "api_p50_ms": percentile(api, 50) * 1000, "api_p95_ms": percentile(api, 95) * 1000,
        }
        results[label]["ratio_p95"] = results[label]["search_p95_ms"] / results[label]["plain_p95_ms"]
    results["all"] = {
        "kind": "mix", "matches": None,
        "plain_p50_ms": percentile(all_plain, 50) * 1000, "plain_p95_ms": percentile(all_plain, 95) * 1000,
        "search_p50_ms": percentile(all_search, 50) * 1000, "search_p95_ms": percentile(all_search, 95) * 1000,
        "api_p50_ms": percentile(all_api, 50) * 1000, "api_p95_ms": percentile(all_api, 95) * 1000,
    }
    results["all"]["ratio_p95"] = results["all"]["search_p95_ms"] / results["all"]["plain_p95_ms"]
    return results


def write_cost(rounds: int) -> dict:
    """Per-post cost of the index triggers: ``rounds`` single-post transactions (a post with a
    tweet's text and one hashtag link, as the post path writes them) with the search triggers
    enabled, and the same with them disabled, interleaved in blocks of 10; the rows are
    deleted afterwards."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from posts.models import Hashtag
    from search.stores.postgres import _TRIGGERS

    author = get_user_model().objects.get(username="bench_viewer").pk
    tag = Hashtag.objects.order_by("id").values_list("id", flat=True).first()
    with gzip.open(corpus_path(), "rt", encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][:rounds]
    ours = [(name, table) for name, table, _ in _TRIGGERS if table in ("posts_post", "posts_posthashtag")]

    def toggle(enabled: bool) -> None:
        with connection.cursor() as cursor:
            for name, table in ours:
                cursor.execute(f"ALTER TABLE {table} {'ENABLE' if enabled else 'DISABLE'} TRIGGER {name}")

    timings: dict[bool, list[float]] = {True: [], False: []}
    created = []
    try:
        for block in range(0, rounds, 10):
            for enabled in (True, False):
                toggle(enabled)
                for text in texts[block:block + 10]:
                    start = time.perf_counter()
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(
                            "INSERT INTO posts_post (author_id, content, visibility, created_at, like_count, "
                            "comment_count, moderation_state) VALUES (%s, %s, 'public', now(), 0, 0, 'visible') RETURNING id, created_at",
                            [author, text],
                        )
                        post_id, created_at = cursor.fetchone()
                        # the link carries a copy of the post's time (the hashtag listing's index)
                        cursor.execute("INSERT INTO posts_posthashtag (post_id, hashtag_id, created_at) VALUES (%s, %s, %s)",
                                       [post_id, tag, created_at])
                    timings[enabled].append(time.perf_counter() - start)
                    created.append(post_id)
    finally:
        toggle(True)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM posts_posthashtag WHERE post_id = ANY(%s)", [created])
            cursor.execute("DELETE FROM posts_post WHERE id = ANY(%s)", [created])
    on, off = timings[True], timings[False]
    return {
        "with_triggers_p50_ms": percentile(on, 50) * 1000, "with_triggers_p95_ms": percentile(on, 95) * 1000,
        "without_p50_ms": percentile(off, 50) * 1000, "without_p95_ms": percentile(off, 95) * 1000,
        "ratio_p50": percentile(on, 50) / percentile(off, 50),
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--friends", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per query (after one warm-up)")
    parser.add_argument("--database", default="bellamy_bench_search")
    parser.add_argument("--reset", action="store_true", help="rebuild the data set")
    parser.add_argument("--write-rounds", type=int, default=200, help="posts written with and without the triggers")
    args = parser.parse_args()
    setup_django(args.database)
    viewer_id = build(args.posts, args.friends, args.reset)
    load_before = os.getloadavg()
    results = measure(viewer_id, args.requests)
    writes = write_cost(args.write_rounds)
    load_after = os.getloadavg()
    print_table(
        f"Posts search, first page of 20, {args.requests} requests per query, {args.posts:,} posts, "
        f"viewer with {args.friends:,} friends (ms)",
        [(label, r["kind"], r["matches"] if r["matches"] is not None else "", r["plain_p50_ms"], r["plain_p95_ms"],
          r["search_p50_ms"], r["search_p95_ms"], r["ratio_p95"], r["api_p50_ms"], r["api_p95_ms"])
         for label, r in results.items()],
        ("query", "kind", "matches", "plain p50", "plain p95", "search p50", "search p95", "search/plain p95",
         "api p50", "api p95"),
    )
    print_table(
        f"Writing one post with a hashtag (a transaction of two INSERTs), {args.write_rounds} each (ms)",
        [("search triggers on", writes["with_triggers_p50_ms"], writes["with_triggers_p95_ms"]),
         ("search triggers off", writes["without_p50_ms"], writes["without_p95_ms"]),
         ("ratio p50", writes["ratio_p50"], "")],
        ("", "p50", "p95"),
    )
    results["write_cost"] = writes
    print(f"\nload average (1, 5, 15 min): before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    results["load_average"] = {"before": load_before, "after": load_after}
    emit(results)
    return results


if __name__ == "__main__":
    main()
