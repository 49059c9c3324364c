"""Celery task figures from Celery's own signals (connected once, by the app's ``ready()``).

- ``before_task_publish`` stamps the message with the wall-clock time it was sent (header
  ``bellamy_sent_at``), so the worker can tell how long the task waited in its queue;
- ``task_prerun`` / ``task_postrun`` time the run and count its outcome;
- ``task_retry`` counts a scheduled retry.

The ``queue`` label is the queue the message came from (its routing key); a task run eagerly
(the embedded default) or without one is labelled with the queue the routing table or the
beat schedule gives its name, else Celery's default queue. Handlers never raise: a metrics
problem must not fail a task.
"""

from __future__ import annotations

import logging
import time

from celery import signals

from bellamy import metrics

logger = logging.getLogger(__name__)

#: Message header carrying the publication time (Unix seconds).
SENT_HEADER = "bellamy_sent_at"
_started: dict[str, float] = {}
_queue_of_task: dict[str, str] | None = None


def _known_queues() -> dict[str, str]:
    global _queue_of_task
    if _queue_of_task is None:
        from django.conf import settings

        from bellamy.events.routes import ROUTES

        known = {route.task: route.queue for routes in ROUTES.values() for route in routes}
        for entry in settings.CELERY_BEAT_SCHEDULE.values():
            known.setdefault(entry["task"], entry.get("options", {}).get("queue", settings.CELERY_TASK_DEFAULT_QUEUE))
        _queue_of_task = known
    return _queue_of_task


def queue_of(task) -> str:
    """The queue label of a running ``task`` (module docstring)."""
    from django.conf import settings

    delivery = getattr(task.request, "delivery_info", None) or {}
    return delivery.get("routing_key") or _known_queues().get(task.name) or settings.CELERY_TASK_DEFAULT_QUEUE


def _stamp_sent(headers=None, **_kwargs) -> None:
    if headers is not None:  # every publication, retries included: the wait is per message
        headers[SENT_HEADER] = time.time()


def _prerun(task_id=None, task=None, **_kwargs) -> None:
    try:
        _started[task_id] = time.perf_counter()
        sent = getattr(task.request, SENT_HEADER, None)
        if sent is not None:
            metrics.task_waited(queue=queue_of(task), seconds=time.time() - float(sent))
    except Exception:  # noqa: BLE001 — never fail a task for a figure
        logger.exception("metrics: task_prerun handler failed")


def _postrun(task_id=None, task=None, state=None, **_kwargs) -> None:
    try:
        started = _started.pop(task_id, None)
        metrics.task_finished(
            queue=queue_of(task), task=task.name, outcome=(state or "unknown").lower(),
            seconds=None if started is None else time.perf_counter() - started,
        )
    except Exception:  # noqa: BLE001
        logger.exception("metrics: task_postrun handler failed")


def _retry(sender=None, request=None, **_kwargs) -> None:
    try:
        metrics.task_retried(queue=queue_of(sender), task=sender.name)
    except Exception:  # noqa: BLE001
        logger.exception("metrics: task_retry handler failed")


def connect() -> None:
    """Connect the handlers (idempotent: Celery's signals dedupe by ``dispatch_uid``)."""
    signals.before_task_publish.connect(_stamp_sent, weak=False, dispatch_uid="bellamy.metrics.sent")
    signals.task_prerun.connect(_prerun, weak=False, dispatch_uid="bellamy.metrics.prerun")
    signals.task_postrun.connect(_postrun, weak=False, dispatch_uid="bellamy.metrics.postrun")
    signals.task_retry.connect(_retry, weak=False, dispatch_uid="bellamy.metrics.retry")
