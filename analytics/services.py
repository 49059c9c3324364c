"""Writes of analytics: the daily rollup (definitions in :mod:`analytics.models`).

:func:`analytics_rollup` recomputes one UTC day from the source tables and upserts its
:class:`~analytics.models.DailyStats` row (``INSERT … ON CONFLICT (day) DO UPDATE``), so
running it twice, or from two workers at once, gives the same row. The periodic task rolls up
today and yesterday (late events land in yesterday); ``manage.py analytics_recompute`` rolls up
a range. Analytics reads every domain (posts, graph, notifications, events) and no domain reads
analytics. Nothing here publishes events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from analytics.models import METRICS, DailyStats
from bellamy.events.models import ProcessedEvent
from graph.models import Friendship
from posts.models import Comment, Like, Post

#: ``ProcessedEvent`` rows are pruned after this long (``bellamy.events.services.prune_outbox``).
PROCESSED_EVENT_RETENTION = timedelta(hours=168)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``(start, end)``: aware UTC datetimes of ``day`` 00:00 and the next day 00:00."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def notifications_created_between(start: datetime, end: datetime) -> int:
    """How many notifications in the configured store were created in ``[start, end)``."""
    from notifications.stores import get_notification_store

    return get_notification_store().count_created_between(start, end)


def notification_retention() -> timedelta:
    """How long notifications are kept (the notification app's retention setting)."""
    from notifications.services import retention

    return retention()


def compute_day(day: date) -> dict[str, int]:
    """Compute every metric of ``day`` from the sources (seven counting queries).

    Returns:
        ``{metric: value}`` for each name in :data:`analytics.models.METRICS`.
    """
    start, end = day_bounds(day)
    posts = Post.objects.filter(created_at__gte=start, created_at__lt=end)
    likes = Like.objects.filter(created_at__gte=start, created_at__lt=end)
    comments = Comment.objects.filter(created_at__gte=start, created_at__lt=end)
    actors = (
        posts.values_list("author_id", flat=True)
        .union(likes.values_list("user_id", flat=True))
        .union(comments.values_list("author_id", flat=True))
    )
    return {
        "active_users": actors.count(),
        "new_users": get_user_model().objects.filter(date_joined__gte=start, date_joined__lt=end).count(),
        "posts": posts.count(),
        "likes": likes.count(),
        "comments": comments.count(),
        "friendships": Friendship.objects.filter(created_at__gte=start, created_at__lt=end).count(),
        "notifications_sent": notifications_created_between(start, end),
        "events_processed": ProcessedEvent.objects.filter(processed_at__gte=start, processed_at__lt=end)
        .aggregate(n=Count("event_id", distinct=True))["n"],
    }


def _keep_pruned(day: date, values: dict[str, int | None], stored: DailyStats | None) -> dict[str, int | None]:
    """Keep the stored value of metrics whose sources were pruned for ``day`` (or that the
    notification store expired), rather than overwrite history with a smaller number."""
    if stored is None:
        return values
    _, end = day_bounds(day)
    now = timezone.now()
    values = dict(values)
    if end <= now - PROCESSED_EVENT_RETENTION:
        values["events_processed"] = stored.events_processed
    if end <= now - notification_retention():
        values["notifications_sent"] = stored.notifications_sent
    return values


def analytics_rollup(*, day: date, dry_run: bool = False) -> tuple[DailyStats, bool]:
    """Recompute ``day`` and upsert its row (idempotent).

    Args:
        day: the UTC day.
        dry_run: compute and compare, but write nothing.
    Returns:
        ``(stats, changed)``: the row as stored (or as it would be stored, unsaved, in a dry
        run) and whether any metric differs from what was stored before (True for a new day).
    Events:
        None.
    """
    stored = DailyStats.objects.filter(day=day).first()
    values = _keep_pruned(day, compute_day(day), stored)
    changed = stored is None or any(getattr(stored, name) != values[name] for name in METRICS)
    stats = DailyStats(day=day, computed_at=timezone.now(), **values)
    if dry_run:
        return stats, changed
    DailyStats.objects.bulk_create(
        [stats], update_conflicts=True, unique_fields=["day"], update_fields=[*METRICS, "computed_at"]
    )
    return DailyStats.objects.get(day=day), changed


@dataclass(frozen=True)
class RecomputeResult:
    """Outcome of :func:`analytics_recompute`: days computed and days whose numbers changed."""

    days: int
    changed: int


def first_activity_day() -> date | None:
    """The earliest UTC day with a user, post or friendship (``None`` on an empty database)."""
    candidates = [
        get_user_model().objects.order_by("date_joined").values_list("date_joined", flat=True).first(),
        Post.objects.order_by("created_at").values_list("created_at", flat=True).first(),
        Friendship.objects.order_by("created_at").values_list("created_at", flat=True).first(),
    ]
    moments = [moment for moment in candidates if moment is not None]
    return min(moments).astimezone(UTC).date() if moments else None


def analytics_recompute(
    *,
    since: date,
    until: date,
    dry_run: bool = False,
    on_progress: Callable[[date], None] | None = None,
) -> RecomputeResult:
    """:func:`analytics_rollup` every day from ``since`` to ``until`` inclusive, oldest first.

    Args:
        on_progress: called with each day once it is done (the command's progress bar).
    Returns:
        :class:`RecomputeResult`; ``RecomputeResult(0, 0)`` when ``since > until``.
    """
    days = changed = 0
    day = since
    while day <= until:
        _, day_changed = analytics_rollup(day=day, dry_run=dry_run)
        days += 1
        changed += day_changed
        if on_progress is not None:
            on_progress(day)
        day += timedelta(days=1)
    return RecomputeResult(days=days, changed=changed)


def analytics_rollup_recent() -> list[date]:
    """Roll up today and yesterday (UTC): the periodic task. Returns the two days."""
    today = timezone.now().astimezone(UTC).date()
    days = [today - timedelta(days=1), today]
    for day in days:
        analytics_rollup(day=day)
    return days
