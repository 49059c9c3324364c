"""Server-side SVG line charts of daily statistics (no JavaScript, no CDN).

:func:`line_charts` turns stored rows into one :class:`Chart` per metric; the template
``admin/analytics/dailystats/charts.html`` draws each as an ``<svg>`` with a ``<polyline>``
and one ``<circle>`` (with a ``<title>`` tooltip) per day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from analytics.models import METRICS, DailyStats

#: Drawing area of one chart in SVG user units (the SVG scales to the page width).
WIDTH, HEIGHT = 640, 160
#: Left margin for the axis labels, and top/right/bottom padding.
LEFT, PAD = 44, 12


@dataclass(frozen=True)
class Point:
    """One day of a chart: SVG coordinates, the day, and its value (``None`` = no data)."""

    x: float
    y: float
    day: date
    value: int | None


@dataclass(frozen=True)
class Chart:
    """One metric over the period: ``points`` (SVG ``points`` attribute), the maximum shown on
    the axis, the total over the period and the latest value."""

    metric: str
    title: str
    points: str
    dots: list[Point]
    maximum: int
    total: int
    latest: int | None
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    pad: int = PAD

    @property
    def baseline(self) -> int:
        """The y coordinate of value 0."""
        return self.height - self.pad


def period(days: int, *, until: date) -> list[date]:
    """The ``days`` consecutive days ending with ``until``, oldest first."""
    return [until - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def line_charts(rows: Iterable[DailyStats], *, days: list[date]) -> list[Chart]:
    """One chart per metric of :data:`~analytics.models.METRICS` over ``days``.

    Days without a row (not rolled up) or with ``None`` are drawn at 0 and shown as "no data"
    in their tooltip.
    """
    by_day = {row.day: row for row in rows}
    charts = []
    step = (WIDTH - LEFT - PAD) / max(len(days) - 1, 1)
    for metric in METRICS:
        values = [getattr(by_day[day], metric) if day in by_day else None for day in days]
        known = [v for v in values if v is not None]
        maximum = max(known, default=0)
        scale = (HEIGHT - 2 * PAD) / maximum if maximum else 0
        dots = [
            Point(
                x=round(LEFT + index * step, 1),
                y=round(HEIGHT - PAD - (value or 0) * scale, 1),
                day=day,
                value=value,
            )
            for index, (day, value) in enumerate(zip(days, values, strict=True))
        ]
        charts.append(
            Chart(
                metric=metric,
                title=metric.replace("_", " ").capitalize(),
                points=" ".join(f"{dot.x:g},{dot.y:g}" for dot in dots),
                dots=dots,
                maximum=maximum,
                total=sum(known),
                latest=values[-1] if values else None,
            )
        )
    return charts
