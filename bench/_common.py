"""Helpers shared by the benchmark scripts: Django set-up on a dedicated database, timing.

Every benchmark prints its figures next to a baseline measured in the same run, because
absolute figures drift on shared machines; the ratio is the figure to read.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(database: str = "bellamy_bench") -> None:
    """Point Django at the production backends of ``bin/stack env`` with database ``database``.

    Environment variables already set win; the database is migrated before returning.
    """
    sys.path.insert(0, str(ROOT))
    defaults = {
        "DJANGO_SETTINGS_MODULE": "bellamy.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
        "DATABASE_URL": f"postgres://bellamy:bellamy@127.0.0.1:5432/{database}",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "BELLAMY_LOG_LEVEL": "WARNING",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    create_database(os.environ["DATABASE_URL"])
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


#: The notification stores a live stack can run with (``--store``): the MongoDB server named by
#: ``BELLAMY_NOTIFICATIONS_URL`` (the stack's default) or the ORM store in PostgreSQL.
NOTIFICATION_STORES = ("mongodb", "orm")


def notification_store_env(store: str) -> dict[str, str]:
    """The environment a stack's processes need on top of their own for notification store
    ``store``: an empty ``BELLAMY_NOTIFICATIONS_URL`` selects the ORM store; ``mongodb`` keeps
    the stack's MongoDB server."""
    if store not in NOTIFICATION_STORES:
        raise ValueError(f"unknown notification store {store!r}")
    return {"BELLAMY_NOTIFICATIONS_URL": ""} if store == "orm" else {}


def delete_bench_users(prefix: str) -> None:
    """Delete an earlier run's users (``username`` starting with ``prefix``) and what the trends
    ledger holds of them and of any other account that no longer exists.

    A benchmark deletes its users directly, not through the account erasure that syncs the
    trends. The ledger (``TrendContribution``) has no database constraint on its author and is
    not cascaded, so its rows of deleted users would stay; the next refresh of an hour bucket
    they were counted in then inserts author rows for missing users, and every trends event of
    that hour fails into the dead letters (it did, and took half the workers' CPU per post).
    """
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from trends.models import TrendContribution

    user_model = get_user_model()
    with transaction.atomic():
        user_model.objects.filter(username__startswith=prefix).delete()
        TrendContribution.objects.exclude(author_id__in=user_model.objects.values("pk")).delete()


def dead_letter_count() -> int:
    """Rows in the dead-letter table (batches a task gave up on) of the current database."""
    from bellamy.events.models import DeadLetter

    return DeadLetter.objects.count()


def create_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` if it does not exist."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0].replace("postgres://", "postgresql://") + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (0–100) of ``values`` by linear interpolation (numpy's default)."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1] if 1 <= pct <= 99 else (
        min(values) if pct <= 0 else max(values)
    )


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds`` (monotonic clock)."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def print_table(title: str, rows: list[tuple], headers: tuple) -> None:
    """Print ``rows`` under ``headers`` as an aligned text table."""
    cells = [tuple(str(c) for c in headers)] + [tuple(_fmt(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def emit(results: dict) -> None:
    """Write ``results`` as JSON to ``$BELLAMY_BENCH_JSON`` when the harness set it."""
    import json

    path = os.environ.get("BELLAMY_BENCH_JSON")
    if path:
        Path(path).write_text(json.dumps(results, indent=2, default=str))



def print_metric_totals(totals: dict[str, float]) -> None:
    """Print a scrape of the stack's ``/metrics`` (``LiveStack.metric_totals()``): the sample
    names the run's traffic moved, with their totals, then those still at 0."""
    moved = sorted((name, value) for name, value in totals.items() if value)
    print_table("/metrics at the end of the load (summed over labels; histograms: _count)",
                [(name, value) for name, value in moved if not name.endswith("_sum")], ("sample", "total"))
    print("  at 0:", ", ".join(sorted(name for name, value in totals.items() if not value)) or "none")
