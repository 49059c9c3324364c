"""The routing table: event type → the Celery tasks that react to it, and their queue.

This is the only wiring between producers and reacting domains (ARCHITECTURE.md §4, §10):
tasks are named by their registered Celery names, never imported, so ``bellamy.events``
imports no domain app. Each worker serves one queue: ``scoring``, ``graph``,
``notifications``, ``trends`` or ``default``.
"""

from __future__ import annotations

from typing import NamedTuple


class Route(NamedTuple):
    """One task to enqueue for an event: its Celery name and the queue it runs on."""

    task: str
    queue: str


#: Event type → routes. A type with no entry is valid and simply has no reactions yet.
ROUTES: dict[str, tuple[Route, ...]] = {}
