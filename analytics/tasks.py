"""Periodic task of analytics (queue ``default``)."""

from __future__ import annotations

from analytics import services
from bellamy.celery import app


@app.task(name="analytics.rollup_recent_task")
def rollup_recent_task() -> list[str]:
    """Beat task: roll up today and yesterday (UTC). Returns the two days as ``YYYY-MM-DD``."""
    return [day.isoformat() for day in services.analytics_rollup_recent()]
