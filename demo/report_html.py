"""The demo's HTML report: one self-contained page (inline CSS, server-side SVG, no script, no
external URL) written beside the text report.

Charts (drawn by :mod:`bellamy.charts`, the project's one SVG chart implementation):

- **Hashtag activity and detected surges** — for the hashtags whose surges scored highest, the
  posts per day over the dataset, with the days the trend detector flags marked. A day is a
  surge when :func:`trends.selectors.trend_scores` (the production trend computation, 24 h
  window) gives the hashtag a score above 0 as of the end of that day: more distinct authors
  than its baseline of the previous days, and at least ``MIN_AUTHORS``.
- **ego-Facebook degree distribution** — users by number of friends, in powers-of-two bins.
- **Events and notifications per stage** — outbox events published, event-task runs recorded
  (``ProcessedEvent``) and notifications stored during each stage of ``demo_run`` (the bulk
  stages publish nothing by design; the live stage goes through the pipeline).
- **Stage timings**.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db.models import Max, Min, Sum
from django.db.models.functions import TruncDate
from django.template.loader import render_to_string

from bellamy.charts import STYLE, Chart, bar_chart, line_chart
from graph.models import Friendship
from posts.models import Hashtag
from trends.models import HashtagBucket
from trends.selectors import trend_scores

#: Hashtags charted; the window whose detector marks surges; most days charted (the newest).
TOP_HASHTAGS = 6
SURGE_WINDOW = "24h"
MAX_DAYS = 400


@dataclass(frozen=True)
class HashtagActivity:
    """One hashtag over the charted days: posts per day, surge days with their scores."""

    name: str
    days: list[date]
    uses: list[int]
    surges: dict[date, float]

    @property
    def peak(self) -> tuple[date, float] | None:
        """The surge day with the highest score, or ``None`` without surges."""
        return max(self.surges.items(), key=lambda item: (item[1], item[0]), default=None)


@dataclass(frozen=True)
class DegreeDistribution:
    """Users per friend-count bin (``[(label, users)]``), with the totals of the graph."""

    bins: list[tuple[str, int]]
    users: int
    friendships: int
    max_degree: int

    @property
    def mean_degree(self) -> float:
        """Average friends per user."""
        return 2 * self.friendships / self.users if self.users else 0.0


def _days(first: date, last: date) -> list[date]:
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def hashtag_activity(*, top: int = TOP_HASHTAGS) -> list[HashtagActivity]:
    """The ``top`` hashtags by their highest surge score (then surge days, then name), or by
    posts when nothing surged; each with posts and surges per day (module docstring).

    Costs one :func:`trend_scores` (four aggregate queries) per charted day.
    """
    span = HashtagBucket.objects.aggregate(first=Min("bucket_start"), last=Max("bucket_start"))
    if span["first"] is None:
        return []
    days = _days(span["first"].astimezone(UTC).date(), span["last"].astimezone(UTC).date())
    surges: dict[int, dict[date, float]] = defaultdict(dict)
    for day in days:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
        for trend in trend_scores(window=SURGE_WINDOW, as_of=end):
            if trend.score > 0:
                surges[trend.hashtag_id][day] = trend.score
    since = datetime.combine(days[0], time(0), tzinfo=UTC)
    totals = dict(HashtagBucket.objects.filter(bucket_start__gte=since).values("hashtag_id")
                  .annotate(uses=Sum("uses")).order_by().values_list("hashtag_id", "uses"))
    names = dict(Hashtag.objects.filter(pk__in=list(totals)).values_list("pk", "name"))
    chosen = sorted(totals, key=lambda h: (-max(surges[h].values(), default=0.0), -len(surges[h]),
                                           -totals[h], names[h]))[:top]
    per_day: dict[int, dict[date, int]] = defaultdict(dict)
    for hashtag_id, day, uses in (
        HashtagBucket.objects.filter(hashtag_id__in=chosen, bucket_start__gte=since)
        .annotate(day=TruncDate("bucket_start", tzinfo=UTC)).values("hashtag_id", "day")
        .annotate(uses=Sum("uses")).order_by().values_list("hashtag_id", "day", "uses")
    ):
        per_day[hashtag_id][day] = uses
    return [HashtagActivity(name=names[h], days=days, uses=[per_day[h].get(d, 0) for d in days],
                            surges=dict(surges[h])) for h in chosen]


def degree_distribution() -> DegreeDistribution:
    """Friends per user over every user (one pass over the friendships), in bins ``0``, ``1``,
    ``2–3``, ``4–7``, … up to the largest degree."""
    degrees: Counter[int] = Counter()
    friendships = 0
    for low, high in Friendship.objects.values_list("user_low_id", "user_high_id").iterator(chunk_size=20000):
        degrees[low] += 1
        degrees[high] += 1
        friendships += 1
    users = get_user_model().objects.count()
    bins: Counter[int] = Counter(degree.bit_length() - 1 for degree in degrees.values())
    top = max(bins, default=0)
    labels = []
    if users > len(degrees):
        labels.append(("0", users - len(degrees)))
    for k in range(top + 1):
        low, high = 2 ** k, 2 ** (k + 1) - 1
        labels.append((str(low) if low == high else f"{low}–{high}", bins.get(k, 0)))
    return DegreeDistribution(bins=labels, users=users, friendships=friendships,
                              max_degree=max(degrees.values(), default=0))


def hashtag_chart(activity: HashtagActivity) -> Chart:
    """Posts per day of one hashtag, surge days marked and banded."""
    return line_chart(
        f"hashtag-{activity.name}", f"#{activity.name}", [d.isoformat() for d in activity.days], activity.uses,
        marked=[d in activity.surges for d in activity.days], band_title="surge detected {first} – {last}",
        x_labels=3,
    )


def charts(report) -> dict:
    """Every chart of ``report`` (a :class:`demo.report.Report`): ``hashtags`` is a list of
    ``(HashtagActivity, Chart)``, the others one :class:`Chart` each (``degrees`` ``None``
    without friendships)."""
    flow = report.flow
    names = [name for name, *_ in flow]
    degrees = report.degrees
    return {
        "hashtags": [(activity, hashtag_chart(activity)) for activity in report.hashtags],
        "degrees": bar_chart("degrees", "Users by number of friends", [label for label, _ in degrees.bins],
                             [users for _, users in degrees.bins]) if degrees and degrees.bins else None,
        "published": bar_chart("flow-published", "Events published (outbox rows)", names,
                               [row[1] for row in flow], horizontal=True),
        "handled": bar_chart("flow-handled", "Event-task runs recorded (ProcessedEvent)", names,
                             [row[2] for row in flow], horizontal=True),
        "notifications": bar_chart("flow-notifications", "Notifications stored", names,
                                   [row[3] for row in flow], horizontal=True),
        "timings": bar_chart("timings", "Stage timings", [name for name, _s, _x in report.stages],
                             [seconds for _n, seconds, _x in report.stages], horizontal=True, unit=" s",
                             decimals=1),
    }


def render_html(report) -> str:
    """The report as one self-contained HTML document."""
    return render_to_string("demo/report.html", {
        "report": report, "charts": charts(report), "chart_style": STYLE, "surge_window": SURGE_WINDOW,
        "total_seconds": sum(seconds for _n, seconds, _x in report.stages),
        "generated_at": datetime.now(UTC),
    })


def write_reports(report, text: str, directory: Path) -> tuple[Path, Path]:
    """Write ``report.txt`` (``text``) and ``report.html`` into ``directory`` (created if missing).

    Returns:
        ``(text path, html path)``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    text_path, html_path = directory / "report.txt", directory / "report.html"
    text_path.write_text(text + "\n", encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return text_path, html_path
