"""Benchmark of ``feed_backfill_scores``: posts scored per second on 100,000 posts.

Standalone: ``.venv/bin/python bench/scoring_backfill.py`` from the repository root.
It uses ``DATABASE_URL`` (default ``postgres://bellamy:bellamy@127.0.0.1:5432/bellamy_bench_score``;
the database is created if missing and migrated), fills it once with 2,000 users, 100,000
posts, ~300,000 likes and ~50,000 comments (``INSERT … SELECT generate_series``, seeded, so
every run measures the same data; ``--reset`` regenerates), then times:

- **baseline**: the plain aggregations a scorer cannot do with less — ``SELECT post_id,
  count(*) … GROUP BY post_id`` over likes and over comments (two queries, no writes);
- **backfill**: :func:`feed.services.content_scores_backfill` with ``--batch-size`` (default
  1000): distinct engagers, components and hot rank for every post, written with one upsert
  per batch.

It prints both rates and their ratio (backfill / baseline).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _common import create_database, emit  # noqa: E402
os.environ.setdefault("DATABASE_URL", "postgres://bellamy:bellamy@127.0.0.1:5432/bellamy_bench_score")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bellamy.settings")

POSTS = 100_000
USERS = 2_000


def populate(reset: bool) -> None:
    """Fill the database with the benchmark data (once; again with ``reset``)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from feed.models import ContentScore
    from posts.models import Comment, Like, Post

    if not reset and Post.objects.count() == POSTS:
        print(f"reusing {POSTS} posts, {Like.objects.count()} likes, {Comment.objects.count()} comments")
        return
    user, post, like, comment, score = (
        get_user_model()._meta.db_table,
        Post._meta.db_table,
        Like._meta.db_table,
        Comment._meta.db_table,
        ContentScore._meta.db_table,
    )
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {score}, {comment}, {like}, {post} RESTART IDENTITY CASCADE")
        cur.execute(f"DELETE FROM {user} WHERE username LIKE 'bench_%%'")
        cur.execute("SELECT setseed(0.42)")
        cur.execute(
            f"""INSERT INTO {user} (password, last_login, is_superuser, username, first_name, last_name, email,
                                    display_name, bio, is_staff, is_active, date_joined)
                SELECT '!', NULL, false, 'bench_' || g, '', '', '', 'Bench ' || g, '', false, true, now()
                FROM generate_series(1, %s) g""",
            [USERS],
        )
        cur.execute(f"SELECT min(id) FROM {user} WHERE username LIKE 'bench_%%'")
        first_user = cur.fetchone()[0]
        cur.execute(
            f"""INSERT INTO {post} (author_id, content, visibility, created_at, like_count, comment_count,
                                    moderation_state)
                SELECT %s + (g %% %s), 'bench post ' || g, 'public',
                       now() - (g * interval '6 seconds'), 0, 0, 'visible'
                FROM generate_series(1, %s) g""",
            [first_user, USERS, POSTS],
        )
        # ~3 likes per post from distinct random users (unique (post, user))
        cur.execute(
            f"""INSERT INTO {like} (post_id, user_id, created_at)
                SELECT DISTINCT p.id, %s + floor(random() * %s)::int, now()
                FROM {post} p, generate_series(1, 3)
                ON CONFLICT DO NOTHING""",
            [first_user, USERS],
        )
        # a comment on every second post
        cur.execute(
            f"""INSERT INTO {comment} (post_id, author_id, content, created_at)
                SELECT p.id, %s + floor(random() * %s)::int, 'bench comment', now()
                FROM {post} p WHERE p.id %% 2 = 0""",
            [first_user, USERS],
        )
        cur.execute(f"ANALYZE {post}; ANALYZE {like}; ANALYZE {comment}")
    print(
        f"populated {POSTS} posts, {Like.objects.count()} likes, {Comment.objects.count()} comments "
        f"in {time.perf_counter() - started:.1f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--reset", action="store_true", help="Regenerate the data.")
    args = parser.parse_args()

    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        sys.exit("the benchmark needs PostgreSQL (DATABASE_URL=postgres://…)")
    create_database(url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from feed.models import ContentScore
    from feed.services import content_scores_backfill
    from posts.models import Comment, Like

    call_command("migrate", verbosity=0)
    populate(args.reset)

    like, comment = Like._meta.db_table, Comment._meta.db_table
    with connection.cursor() as cur:  # warm the cache once for both measurements
        cur.execute(f"SELECT count(*) FROM {like}")
        cur.execute(f"SELECT count(*) FROM {comment}")
        started = time.perf_counter()
        cur.execute(f"SELECT post_id, count(*) FROM {like} GROUP BY post_id")
        liked = len(cur.fetchall())
        cur.execute(f"SELECT post_id, count(*) FROM {comment} WHERE deleted_at IS NULL GROUP BY post_id")
        commented = len(cur.fetchall())
        baseline = time.perf_counter() - started
    print(f"baseline GROUP BY counts: {liked} liked + {commented} commented posts in {baseline:.3f}s "
          f"= {POSTS / baseline:,.0f} posts/s")

    ContentScore.objects.all().delete()
    result = content_scores_backfill(batch_size=args.batch_size)
    rate = result.scored / result.seconds
    print(f"backfill (batch {args.batch_size}): {result.scored} posts in {result.batches} batches, "
          f"{result.seconds:.2f}s = {rate:,.0f} posts/s")
    print(f"ratio backfill/baseline: {rate / (POSTS / baseline):.3f} "
          f"(backfill takes {result.seconds / baseline:.1f}x the plain aggregation)")
    emit({"posts": POSTS, "posts_per_second": rate, "baseline_posts_per_second": POSTS / baseline,
          "ratio": rate / (POSTS / baseline), "seconds": result.seconds})


if __name__ == "__main__":
    main()
