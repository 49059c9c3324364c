"""Helpers shared by management commands."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


def parse_moment(raw: str, option: str) -> datetime:
    """An aware datetime from ``YYYY-MM-DD`` or ISO 8601 (naive means UTC).

    Args:
        raw: the option's value.
        option: the option's name, quoted in the error (``"--since"``).
    Raises:
        CommandError: not a date or datetime.
    """
    try:
        value = parse_datetime(raw)
        day = parse_date(raw) if value is None and len(raw) == 10 else None
    except ValueError:
        value = day = None
    if value is None:
        if day is None:
            raise CommandError(f"{option}: {raw!r} is not an ISO 8601 date or datetime")
        value = datetime(day.year, day.month, day.day)
    return value.replace(tzinfo=UTC) if timezone.is_naive(value) else value
