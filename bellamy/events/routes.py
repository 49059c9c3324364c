"""The routing table: event type → the Celery tasks that react to it, and their queue.

This is the only wiring between producers and reacting domains (ARCHITECTURE.md §4, §10):
tasks are named by their registered Celery names, never imported, so ``bellamy.events``
imports no domain app. Each worker serves one queue: ``scoring``, ``graph``,
``notifications``, ``trends`` or ``default``. One block per worker below; ``ROUTES`` merges
them in that order.
"""

from __future__ import annotations

from typing import NamedTuple


class Route(NamedTuple):
    """One task to enqueue for an event: its Celery name and the queue it runs on."""

    task: str
    queue: str


# --- scoring worker (feed.ContentScore) -------------------------------------------------------
SCORING_ROUTES: dict[str, tuple[Route, ...]] = {}

# --- graph worker (relationship weights, suggestions) -----------------------------------------
GRAPH_ROUTES: dict[str, tuple[Route, ...]] = {}

# --- notification worker (notification store + pushes) ----------------------------------------
NOTIFICATION_ROUTES: dict[str, tuple[Route, ...]] = {}

# --- trending worker (trends.GlobalTrend) -----------------------------------------------------
TREND_ROUTES: dict[str, tuple[Route, ...]] = {}

# --- default queue (cache invalidation, real-time pushes) -------------------------------------
DEFAULT_ROUTES: dict[str, tuple[Route, ...]] = {}


def merge(*tables: dict[str, tuple[Route, ...]]) -> dict[str, tuple[Route, ...]]:
    """Concatenate routing tables: ``{type: routes of table 1 + routes of table 2 + ...}``."""
    merged: dict[str, tuple[Route, ...]] = {}
    for table in tables:
        for event_type, routes in table.items():
            merged[event_type] = merged.get(event_type, ()) + routes
    return merged


#: Event type → routes. A type with no entry is valid and simply has no reactions yet.
ROUTES: dict[str, tuple[Route, ...]] = merge(
    SCORING_ROUTES, GRAPH_ROUTES, NOTIFICATION_ROUTES, TREND_ROUTES, DEFAULT_ROUTES
)
