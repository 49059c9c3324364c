"""``dispatch_batch()``: hand a batch of envelopes to the tasks their types are routed to.

Used by both event-bus backends: the in-process bus calls it right after commit with the
events of a relay pass; the Kafka forwarder calls it with the events of one poll. Envelopes are
grouped by route (``bellamy/events/routes.py``), and each route gets **one** task whose argument
is the list of its envelopes, in the order given (ARCHITECTURE.md §11). With eager Celery (no
broker) the tasks run inline; with a broker they are enqueued on their route's queue.
:func:`dispatch` is a batch of one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery.exceptions import NotRegistered

from bellamy.celery import app
from bellamy.events import routes
from bellamy.events.envelope import Envelope

logger = logging.getLogger(__name__)


_tasks_imported = False


def import_tasks() -> None:
    """Import every installed app's ``tasks`` module once, so routes resolve in any process
    (Celery only autodiscovers when a worker starts; the web process dispatches too). The
    forwarder calls it before it starts consuming, so its first batch does not wait for the
    imports (seconds: the store drivers)."""
    global _tasks_imported
    if not _tasks_imported:
        app.autodiscover_tasks(force=True)
        _tasks_imported = True


_import_tasks = import_tasks  # the earlier private name


def group_by_route(envelopes: Sequence[Envelope]) -> dict[routes.Route, list[dict]]:
    """``{route: [envelope dict, ...]}`` for every route of the envelopes' types.

    Routes appear in the order of their first envelope; each list keeps the given order, so
    events of one key stay in the order the caller delivered them. Types without routes are
    left out.
    """
    grouped: dict[routes.Route, list[dict]] = {}
    for envelope in envelopes:
        targets = routes.ROUTES.get(envelope.type, ())
        if not targets:
            continue
        payload = envelope.to_dict()
        for route in targets:
            grouped.setdefault(route, []).append(payload)
    return grouped


def enqueue(route: routes.Route, payloads: list[dict]) -> None:
    """Enqueue one task of ``route`` with ``payloads`` (a list of envelope dicts) as argument.

    Raises:
        celery.exceptions.NotRegistered: the task is unknown to this process while Celery is
            eager (it could not run it inline).
        kombu.exceptions.OperationalError: the broker is unreachable.
    """
    task = app.tasks.get(route.task)
    if task is None:
        if app.conf.task_always_eager:
            raise NotRegistered(route.task)
        app.send_task(route.task, args=[payloads], queue=route.queue)
    else:
        task.apply_async(args=[payloads], queue=route.queue)


def dispatch_batch(envelopes: Sequence[Envelope]) -> int:
    """Enqueue one task per route of ``envelopes``, each with the list of its envelopes.

    A failure part-way leaves the earlier routes enqueued: the caller hands the whole batch
    again and the tasks skip the events they already handled (idempotency records).

    Args:
        envelopes: the batch, in delivery order (per key: the order of publication).
    Returns:
        The number of tasks enqueued (0 when no envelope's type has routes).
    Raises:
        celery.exceptions.NotRegistered: see :func:`enqueue`.
        kombu.exceptions.OperationalError: the broker is unreachable (the caller retries).
        Exception: with eager Celery, whatever a task raised.
    """
    import_tasks()
    grouped = group_by_route(envelopes)
    for route, payloads in grouped.items():
        enqueue(route, payloads)
    logger.debug("dispatched %d event(s) to %d task(s)", len(envelopes), len(grouped))
    return len(grouped)


def dispatch(envelope: Envelope) -> int:
    """Enqueue each task routed from ``envelope.type`` with ``[envelope dict]`` (a batch of one).

    Returns:
        The number of tasks enqueued (0 for a type with no routes).
    Raises:
        See :func:`dispatch_batch`.
    """
    return dispatch_batch([envelope])
