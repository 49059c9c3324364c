"""The staff analytics page's charts: one server-side SVG line chart per daily metric.

:func:`line_charts` turns stored rows into one :class:`bellamy.charts.Chart` per metric (the
project's one SVG chart implementation, shared with the demo report); the template
``admin/analytics/dailystats/charts.html`` writes each with ``chart.svg``: a ``<polyline>`` and
one ``<circle>`` (with a ``<title>`` tooltip) per day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from analytics.models import METRICS, DailyStats
from bellamy.charts import Chart, line_chart


def period(days: int, *, until: date) -> list[date]:
    """The ``days`` consecutive days ending with ``until``, oldest first."""
    return [until - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def line_charts(rows: Iterable[DailyStats], *, days: list[date]) -> list[Chart]:
    """One chart per metric of :data:`~analytics.models.METRICS` over ``days`` (key = the metric).

    Days without a row (not rolled up) or with ``None`` are drawn at 0 and shown as "no data"
    in their tooltip.
    """
    by_day = {row.day: row for row in rows}
    labels = [day.isoformat() for day in days]
    return [
        line_chart(metric, metric.replace("_", " ").capitalize(), labels,
                   [getattr(by_day[day], metric) if day in by_day else None for day in days])
        for metric in METRICS
    ]
