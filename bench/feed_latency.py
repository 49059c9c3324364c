"""Benchmark: home-feed page latency, cached vs uncached (the ratio is the figure).

Data: one viewer with 1,000 friends and 100,000 posts in the database (100 by each friend,
the rest by 1,000 strangers), every post scored. Measured through the real view
(``GET /api/feed/``, DRF test client, JWT auth) on PostgreSQL and Redis:

- uncached: the page cache is cleared before every request (ranking + page query);
- cached: the same request again (page ids from Redis, posts re-loaded and re-checked).

Both ``order=ranked`` and ``order=recent`` first pages, 50 requests each.
Run: ``.venv/bin/python bench/feed_latency.py`` with the services running.
"""

from __future__ import annotations

import argparse
import random
import time

from _common import delete_bench_users, emit, percentile, print_table, setup_django


def build(friends: int, posts: int) -> int:
    """Create the data set once (idempotent by username); return the viewer's id."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from feed.models import ContentScore
    from graph.models import Friendship
    from posts.models import Post

    user_model = get_user_model()
    viewer = user_model.objects.filter(username="bench_viewer").first()
    if viewer and Post.objects.count() >= posts:
        return viewer.pk
    with transaction.atomic():
        Post.objects.all().delete()
        delete_bench_users("bench_")
        viewer = user_model.objects.create(username="bench_viewer")
        people = user_model.objects.bulk_create(
            [user_model(username=f"bench_u{n}") for n in range(2 * friends)], batch_size=2000
        )
        Friendship.objects.bulk_create(
            [Friendship(user_low_id=min(viewer.pk, p.pk), user_high_id=max(viewer.pk, p.pk)) for p in people[:friends]],
            batch_size=2000,
        )
        rng = random.Random(7)
        now = timezone.now()
        rows = []
        for n in range(posts):
            author = people[n % len(people)]
            rows.append(Post(author_id=author.pk, content=f"bench post {n}", visibility="public" if n % 3 else "friends",
                             created_at=now - timezone.timedelta(minutes=n)))
        created = Post.objects.bulk_create(rows, batch_size=5000)
        ContentScore.objects.bulk_create(
            [ContentScore(post_id=p.pk, score=rng.uniform(0, 500)) for p in created], batch_size=5000
        )
    return viewer.pk


def measure(viewer_id: int, requests: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    viewer = get_user_model().objects.get(pk=viewer_id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(viewer).access_token}")
    results = {}
    for order in ("ranked", "recent"):
        url = f"/api/feed/?order={order}&limit=20"
        uncached, cached = [], []
        for _ in range(requests):
            cache.clear()
            start = time.perf_counter()
            assert client.get(url).status_code == 200
            uncached.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert client.get(url).status_code == 200
            cached.append(time.perf_counter() - start)
        results[order] = {
            "uncached_p50_ms": percentile(uncached, 50) * 1000, "uncached_p95_ms": percentile(uncached, 95) * 1000,
            "cached_p50_ms": percentile(cached, 50) * 1000, "cached_p95_ms": percentile(cached, 95) * 1000,
        }
        results[order]["ratio_p50"] = results[order]["cached_p50_ms"] / results[order]["uncached_p50_ms"]
    return results


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--friends", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database", default="bellamy_bench_feed")
    parser.add_argument("--viewer", default=None, metavar="USERNAME",
                        help="Measure this existing user's feed (e.g. fb2722 in the make-demo database "
                             "bellamy_demo: the ego-Facebook graph with the tweet corpus) instead of "
                             "building the synthetic data set.")
    args = parser.parse_args()
    setup_django(args.database)
    start = time.perf_counter()
    if args.viewer:
        from django.contrib.auth import get_user_model

        viewer_id = get_user_model().objects.get(username=args.viewer).pk
        print(f"measuring {args.viewer} in {args.database}")
    else:
        viewer_id = build(args.friends, args.posts)
        print(f"data set ready in {time.perf_counter() - start:.1f}s ({args.friends} friends, {args.posts} posts)")
    results = measure(viewer_id, args.requests)
    print_table(
        f"Feed first page, {args.requests} requests each",
        [(order, r["uncached_p50_ms"], r["uncached_p95_ms"], r["cached_p50_ms"], r["cached_p95_ms"], r["ratio_p50"])
         for order, r in results.items()],
        ("order", "uncached p50 ms", "uncached p95 ms", "cached p50 ms", "cached p95 ms", "cached/uncached p50"),
    )
    emit(results)
    return results


if __name__ == "__main__":
    main()
