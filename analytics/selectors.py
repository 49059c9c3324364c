"""Reads of analytics: stored daily statistics by date range."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from analytics.models import DailyStats


def daily_stats(*, since: date, until: date) -> QuerySet[DailyStats]:
    """The stored rows of ``since``..``until`` (inclusive), oldest first. Days not rolled up
    yet have no row (analytics is eventually consistent)."""
    return DailyStats.objects.filter(day__gte=since, day__lte=until).order_by("day")
