"""Benchmark of the notification worker on both store backends.

Measures, for the ORM store (PostgreSQL) and the MongoDB store:

- fan-out: seconds from the start of ``notifications.notify_task`` (a batch of one
  ``post.created``) to every
  ``friend_posted`` notification stored (the task returns after its transaction commits), for
  an author with 1,000 and with 5,000 friends (median of ``--runs`` posts);
- listing: latency of one page (20) of a recipient holding 10,000 notifications — the first
  page, the unread-only first page, a page deep in the list (by cursor), and the API's whole
  read path (page + actor users + unread count) — as p50 / p95 over ``--samples`` calls.

Usage (the services of ``bin/services`` running)::

    DJANGO_SECRET_KEY=... DATABASE_URL=postgres://bellamy:bellamy@127.0.0.1:5432/bellamy \\
    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/notifications_fanout.py

The PostgreSQL database name of ``DATABASE_URL`` is replaced by ``bellamy_bench_notif``
(created if missing, migrated); MongoDB (``BELLAMY_BENCH_MONGO_URL``, default
``mongodb://127.0.0.1:27017``) gets the database ``bellamy_bench_notif``. Both are emptied at
the start. Celery runs eager (the task in this process).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DB = "bellamy_bench_notif"
ROOT = Path(__file__).resolve().parent.parent


def prepare_environment() -> None:
    """Point Django at the bench database (created if missing) and eager Celery."""
    url = os.environ.get("DATABASE_URL", "postgres://bellamy:bellamy@127.0.0.1:5432/bellamy")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("DATABASE_URL must be a postgres:// URL (the benchmark needs PostgreSQL)")
    parts = urlsplit(url)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("BELLAMY_NOTIFICATIONS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bellamy.settings")
    sys.path.insert(0, str(ROOT))

    sys.path.insert(0, str(ROOT / "bench"))
    from _common import create_database

    create_database(os.environ["DATABASE_URL"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="posts per fan-out size (median reported)")
    parser.add_argument("--samples", type=int, default=200, help="list calls per measurement")
    parser.add_argument("--sizes", default="1000,5000", help="friend counts, comma-separated")
    parser.add_argument("--list-size", type=int, default=10_000, help="notifications of the listed recipient")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    prepare_environment()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings
    from pymongo import MongoClient

    from bellamy.events.envelope import Envelope
    from bellamy.events.models import ProcessedEvent
    from graph.models import Friendship
    from notifications import selectors, tasks
    from notifications.models import Notification
    from notifications.stores import get_notification_store
    from notifications.stores.base import NewNotification
    from posts.models import Post

    call_command("migrate", verbosity=0)
    mongo_url = os.environ.get("BELLAMY_BENCH_MONGO_URL", "mongodb://127.0.0.1:27017")
    MongoClient(mongo_url).drop_database(BENCH_DB)

    User = get_user_model()
    print(f"setting up users in {connection.settings_dict['NAME']} ...", file=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE notifications_notification, events_processedevent, posts_post, "
            "graph_friendship, accounts_user RESTART IDENTITY CASCADE"
        )
    biggest = max(sizes)
    users = User.objects.bulk_create(
        [User(username=f"bench{i}", email=f"bench{i}@example.org", password="!") for i in range(biggest)]
    )
    authors = {
        n: User.objects.create(username=f"author{n}", email=f"author{n}@example.org", password="!") for n in sizes
    }
    for n, author in authors.items():
        Friendship.objects.bulk_create(
            [Friendship(user_low_id=min(author.pk, u.pk), user_high_id=max(author.pk, u.pk)) for u in users[:n]],
            batch_size=5000,
        )
    reader = User.objects.create(username="reader", email="reader@example.org", password="!")
    actors = users[:50]

    backends = {
        "orm (PostgreSQL)": {"BACKEND": "notifications.stores.orm.OrmNotificationStore", "OPTIONS": {}},
        "mongo (SecantusDB)": {
            "BACKEND": "notifications.stores.mongo.MongoNotificationStore",
            "OPTIONS": {"url": mongo_url, "database": BENCH_DB},
        },
    }
    rows = []
    figures: dict[str, dict] = {}
    for label, spec in backends.items():
        figures[label] = {}
        with override_settings(BELLAMY_NOTIFICATIONS=spec):
            store = get_notification_store()
            store.ping()
            # --- fan-out -------------------------------------------------------------------
            for n in sizes:
                author = authors[n]
                timings = []
                for _run in range(args.runs):
                    post = Post.objects.create(author=author, content="bench", visibility="public")
                    envelope = Envelope(
                        type="post.created", key=str(author.pk), actor_id=author.pk,
                        data={"post_id": post.pk, "author_id": author.pk, "visibility": "public",
                              "hashtags": [], "mention_ids": [], "created_at": datetime.now(UTC).isoformat()},
                    )
                    before = store.count()
                    started = time.perf_counter()
                    stored = tasks.notify_task.apply(args=[[envelope.to_dict()]]).get()["stored"]
                    timings.append(time.perf_counter() - started)
                    assert stored == n and store.count() - before == n, (stored, n)
                figures[label][f"fanout_{n}_seconds"] = statistics.median(timings)
                rows.append((label, f"fan-out to {n:,} friends", f"{statistics.median(timings):.3f} s",
                             f"min {min(timings):.3f} s, max {max(timings):.3f} s"))
            # --- listing -------------------------------------------------------------------
            now = datetime.now(UTC)
            batch = []
            for i in range(args.list_size):
                batch.append(NewNotification(reader.pk, "friend_posted", f"list-{i}", actors[i % len(actors)].pk,
                                             now - timedelta(seconds=args.list_size - i), post_id=i + 1))
            for start in range(0, len(batch), 1000):
                store.add_many(batch[start:start + 1000])
            first_page, _ = store.list_for(reader.pk, limit=20)
            store.mark_read(reader.pk, ids=[r.id for r in first_page[::2]])
            # a cursor about half-way down the list
            cursor = None
            for _ in range(args.list_size // 2 // 100):
                _items, cursor = store.list_for(reader.pk, limit=100, cursor=cursor)

            def measure(call) -> list[float]:
                out = []
                for _ in range(args.samples):
                    started = time.perf_counter()
                    call()
                    out.append((time.perf_counter() - started) * 1000)
                return out

            cases = {
                "list first page (20)": lambda: store.list_for(reader.pk, limit=20),
                "list unread only (20)": lambda: store.list_for(reader.pk, limit=20, unread_only=True),
                "list page at 5,000 (cursor)": lambda: store.list_for(reader.pk, limit=20, cursor=cursor),
                "API read path (page+actors+count)": lambda: (
                    selectors.notification_objects(store.list_for(reader.pk, limit=20)[0], viewer_id=reader.pk),
                    store.unread_count(reader.pk),
                ),
            }
            for name, call in cases.items():
                call()  # warm up
                samples = measure(call)
                figures[label][name] = {"p50_ms": percentile(samples, 0.5), "p95_ms": percentile(samples, 0.95)}
                rows.append((label, f"{name}, {args.list_size:,} stored",
                             f"p50 {percentile(samples, 0.5):.2f} ms", f"p95 {percentile(samples, 0.95):.2f} ms"))
            store.close()
        ProcessedEvent.objects.all().delete()
        Notification.objects.all().delete()

    widths = [max(len(str(r[i])) for r in rows + [("backend", "measure", "result", "spread")]) for i in range(4)]
    header = ("backend", "measure", "result", "spread")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"\n(runs={args.runs}, samples={args.samples}, Python {sys.version.split()[0]}, "
          f"Celery eager, push: presence lookup with nobody online; DB {settings.DATABASES['default']['NAME']})")
    MongoClient(mongo_url).drop_database(BENCH_DB)
    from _common import emit

    emit(figures)


if __name__ == "__main__":
    main()
