"""Effectively-once handling of at-least-once events.

Kafka redelivers after a crash or rebalance, and the relay may send a row twice when a bus
acknowledgement is lost, so every event task records ``(event id, task name)`` once, in the
same transaction as its database effects, and skips a repeat (ARCHITECTURE.md §4).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import IntegrityError, transaction

from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.models import ProcessedEvent

logger = logging.getLogger(__name__)
T = TypeVar("T")


def run_once(event_id: str, task_name: str, func: Callable[[], T]) -> tuple[bool, T | None]:
    """Run ``func`` unless ``task_name`` already handled ``event_id``.

    The record and ``func``'s database writes commit together: if ``func`` raises, neither
    is kept and a retry runs it again. Two concurrent runs of one event serialise on the
    unique index; the second sees the record and skips.

    Returns:
        ``(True, func's result)`` when it ran, ``(False, None)`` for a repeat.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                ProcessedEvent.objects.create(event_id=event_id, task_name=task_name)
        except IntegrityError:
            logger.info("%s already handled event %s; skipped", task_name, event_id)
            return False, None
        return True, func()


def event_task(name: str, **celery_options: Any) -> Callable[[Callable[[Envelope], Any]], Any]:
    """Decorator: register ``func(envelope)`` as an idempotent Celery task called ``name``.

    The task receives the envelope dict (as dispatched), rebuilds the :class:`Envelope`, and
    runs ``func`` through :func:`run_once`. The undecorated function stays reachable as
    ``task.handler`` for direct tests. Transient errors are retried by Celery with backoff
    when listed in ``autoretry_for`` (pass it in ``celery_options``).

    Args:
        name: the stable task name used in ``bellamy/events/routes.py`` (``<app>.<action>_task``).
        celery_options: extra ``app.task`` options.
    """

    def decorator(func: Callable[[Envelope], Any]):
        @app.task(name=name, **celery_options)
        @functools.wraps(func)
        def task(payload: dict) -> Any:
            envelope = Envelope.from_dict(payload)
            _ran, result = run_once(envelope.id, name, lambda: func(envelope))
            return result

        task.handler = func
        return task

    return decorator
