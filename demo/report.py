"""The report ``manage.py demo_run`` prints: what is stored where, what the pipeline processed,
what trends, and what one user sees (feed, suggestions, unread notifications).

:func:`collect` reads everything through the same selectors and stores the API uses
(``feed.selectors.cached_feed_page``, ``graph.suggestions.suggestions_for``,
``trends.models.GlobalTrend``, ``notifications.stores.get_notification_store``), plus what the
HTML report charts (:mod:`demo.report_html`); :func:`render` turns it into plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from bellamy.events.models import OutboxEvent, ProcessedEvent
from demo.report_html import DegreeDistribution, HashtagActivity, degree_distribution, hashtag_activity
from feed.models import ContentScore
from feed.selectors import cached_feed_page, feed_posts_for_page
from graph.models import Friendship
from graph.stores import get_graph_store
from graph.suggestions import suggestions_for
from notifications.stores import get_notification_store
from posts.models import Comment, Hashtag, Like, Post, PostHashtag
from trends.models import GlobalTrend
from trends.trending import MIN_AUTHORS

WINDOWS = ("1h", "24h", "7d")


@dataclass
class Report:
    """Everything the demo report shows (plain data; :func:`render` formats it)."""

    mode: str
    scope: str
    backends: dict[str, str]
    counts: dict[str, int]
    graph_store: dict[str, int]
    events: dict[str, int]
    trends_as_of: datetime | None
    trends: dict[str, list[tuple[int, str, float, int, int]]]
    #: Per window, the stored GlobalTrends left out of ``trends`` because their score is 0
    #: (used by enough distinct authors, but not more than their baseline: not trending).
    flat_trends: dict[str, int] = field(default_factory=dict)
    sample_user: str = ""
    feed: list[tuple[int, str, str]] = field(default_factory=list)
    suggestions: list[tuple[str, int, float]] = field(default_factory=list)
    unread: int = 0
    stages: list[tuple[str, float, str]] = field(default_factory=list)
    #: ``[(stage, events published, event-task runs recorded, notifications stored)]``.
    flow: list[tuple[str, int, int, int]] = field(default_factory=list)
    hashtags: list[HashtagActivity] = field(default_factory=list)
    degrees: DegreeDistribution | None = None


def flow_counts() -> tuple[int, int, int]:
    """``(outbox rows, ProcessedEvent rows, stored notifications)`` now; ``demo_run`` takes the
    difference around each stage."""
    return OutboxEvent.objects.count(), ProcessedEvent.objects.count(), get_notification_store().count()


def backend_names() -> dict[str, str]:
    """The backend of each part, as configured (class names and the database vendor/name)."""
    database = settings.DATABASES["default"]
    return {
        "database": f"{connection.vendor} {database['NAME']}",
        "events": settings.BELLAMY_EVENTS["BACKEND"].rsplit(".", 1)[-1]
        + (f" (topic prefix {settings.BELLAMY_TOPIC_PREFIX!r}, group {settings.BELLAMY_FORWARDER_GROUP!r})"
           if settings.BELLAMY_EVENTS["BACKEND"].endswith("KafkaBus") else ""),
        "celery": "eager" if settings.CELERY_TASK_ALWAYS_EAGER else "workers on " + settings.CELERY_BROKER_URL,
        "notifications": type(get_notification_store()).__name__
        + (f" (database {settings.BELLAMY_NOTIFICATIONS['OPTIONS'].get('database')})"
           if "database" in settings.BELLAMY_NOTIFICATIONS["OPTIONS"] else ""),
        "graph": type(get_graph_store()).__name__,
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
    }


def collect(*, mode: str, scope: str, trends_as_of: datetime | None, sample_username: str | None,
            stages: list[tuple[str, float, str]], flow: list[tuple[str, int, int, int]] | None = None) -> Report:
    """Gather the report.

    Args:
        mode: e.g. ``"production stack"`` / ``"embedded default"``.
        scope: what was imported (subset sizes), printed verbatim.
        trends_as_of: the reference time the GlobalTrends were computed at.
        sample_username: the user whose feed, suggestions and notifications are shown.
        stages: ``[(stage name, seconds, summary)]``.
        flow: ``[(stage name, events published, event-task runs, notifications)]`` (see :func:`flow_counts`).
    """
    User = get_user_model()
    store = get_notification_store()
    counts = {
        "users": User.objects.count(),
        "friendships": Friendship.objects.count(),
        "posts": Post.objects.count(),
        "hashtags": Hashtag.objects.count(),
        "post hashtag links": PostHashtag.objects.count(),
        "likes": Like.objects.count(),
        "comments": Comment.objects.count(),
        "content scores": ContentScore.objects.count(),
        **{f"global trends {w}": GlobalTrend.objects.filter(window=w).count() for w in WINDOWS},
        "notifications (store)": store.count(),
    }
    events = {
        "outbox rows": OutboxEvent.objects.count(),
        "outbox sent": OutboxEvent.objects.filter(sent_at__isnull=False).count(),
        "outbox unsent": OutboxEvent.objects.filter(sent_at__isnull=True).count(),
        "processed (event, task)": ProcessedEvent.objects.count(),
        "distinct events processed": ProcessedEvent.objects.values("event_id").distinct().count(),
    }
    # A GlobalTrend with score 0 is a hashtag used by enough authors but no more than its
    # baseline (trends.trending): stored and ranked last, but not trending.
    trends = {
        w: [(t.rank, t.hashtag.name, t.score, t.post_count, t.unique_authors)
            for t in GlobalTrend.objects.filter(window=w, score__gt=0).select_related("hashtag").order_by("rank")[:10]]
        for w in WINDOWS
    }
    flat = {w: GlobalTrend.objects.filter(window=w, score__lte=0).count() for w in WINDOWS}
    report = Report(mode=mode, scope=scope, backends=backend_names(), counts=counts,
                    graph_store=get_graph_store().stats(), events=events, trends_as_of=trends_as_of,
                    trends=trends, flat_trends=flat, stages=stages, flow=list(flow or []),
                    hashtags=hashtag_activity(), degrees=degree_distribution())
    user = User.objects.filter(username=sample_username).first() if sample_username else None
    if user is not None:
        report.sample_user = f"{user.username} (id {user.pk})"
        page, _hit = cached_feed_page(user, order="ranked", limit=5)
        report.feed = [(p.pk, p.author.username, p.content.replace("\n", " ")[:60])
                       for p in feed_posts_for_page(user, page.post_ids)]
        report.suggestions = [(s.user.username, s.mutual_friends, s.score) for s in suggestions_for(user.pk, limit=5)]
        report.unread = store.unread_count(user.pk)
    return report


def _score(score: float) -> str:
    """A positive score in 8 characters that never reads as 0 (``0.0004`` → ``  4.0e-04``)."""
    return f"{score:8.3f}" if score >= 0.001 else f"{score:8.1e}"


def render(report: Report) -> str:
    """The report as text (the block ``make demo`` prints)."""
    out = ["", "=" * 78, f"Bellamy Book demo report — {report.mode}", "=" * 78, f"scope: {report.scope}"]
    out += ["", "backends:"] + [f"  {k:<14} {v}" for k, v in report.backends.items()]
    out += ["", "counts (PostgreSQL/SQLite tables, notification store):"]
    out += [f"  {k:<26} {v:>9,}" for k, v in report.counts.items()]
    out += ["", "graph store (" + report.backends["graph"] + "): "
            + ", ".join(f"{k} {v:,}" for k, v in report.graph_store.items())]
    out += ["", "events:"] + [f"  {k:<26} {v:>9,}" for k, v in report.events.items()]
    as_of = report.trends_as_of.isoformat() if report.trends_as_of else "-"
    out += ["", f"top 10 trending hashtags as of the newest imported post ({as_of}):"]
    for window, rows in report.trends.items():
        flat = report.flat_trends.get(window, 0)
        hashtags = f"{flat} {'more ' if rows else ''}hashtag{'s' if flat != 1 else ''}"
        out.append(f"  {window}:")
        if not rows and not flat:
            out.append(f"    (none: no hashtag used by {MIN_AUTHORS} or more distinct authors in this window)")
        out += [f"    {rank:>2}. #{name:<28} score {_score(score)}  posts {posts:>4}  authors {authors:>4}"
                for rank, name, score, posts, authors in rows]
        if flat:
            out.append(f"    ({'not' if rows else 'none'} trending: {hashtags} used by {MIN_AUTHORS} or more distinct "
                       "authors, but not by more than on average in the previous periods: score 0)")
    out += ["", f"sample user: {report.sample_user or '-'}", "  feed (ranked, top 5):"]
    out += [f"    post {pid:>6} by {author:<7} {text}" for pid, author, text in report.feed] or ["    (empty)"]
    out += ["  suggestions (top 5):"]
    out += [f"    {name:<8} mutual friends {mutual:>4}  score {score:9.3f}"
            for name, mutual, score in report.suggestions] or ["    (none)"]
    out += [f"  unread notifications: {report.unread}"]
    out += ["", "stages:"] + [f"  {name:<40} {seconds:8.1f} s  {summary}" for name, seconds, summary in report.stages]
    out += [f"  {'total':<40} {sum(s for _n, s, _x in report.stages):8.1f} s"]
    if report.flow:
        out += ["", f"  {'per stage':<40} {'events':>8} {'handled':>8} {'notifs':>8}"]
        out += [f"  {name:<40} {published:>8,} {handled:>8,} {notes:>8,}" for name, published, handled, notes in report.flow]
    out.append("=" * 78)
    return "\n".join(out)
