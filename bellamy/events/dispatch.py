"""``dispatch()``: hand an envelope to every task its type is routed to.

Used by both event-bus backends: the in-process bus calls it right after commit; the Kafka
forwarder calls it for each consumed record. With eager Celery (no broker) the tasks run
inline; with a broker they are enqueued on their route's queue.
"""

from __future__ import annotations

import logging

from celery.exceptions import NotRegistered

from bellamy.celery import app
from bellamy.events import routes
from bellamy.events.envelope import Envelope

logger = logging.getLogger(__name__)


_tasks_imported = False


def _import_tasks() -> None:
    """Import every installed app's ``tasks`` module once, so routes resolve in any process
    (Celery only autodiscovers when a worker starts; the web process dispatches too)."""
    global _tasks_imported
    if not _tasks_imported:
        app.autodiscover_tasks(force=True)
        _tasks_imported = True


def dispatch(envelope: Envelope) -> int:
    """Enqueue each task routed from ``envelope.type`` with the envelope dict as argument.

    Returns:
        The number of tasks enqueued (0 for a type with no routes).
    Raises:
        celery.exceptions.NotRegistered: a route names a task this process does not know
            while Celery is eager (it could not run it inline).
        kombu.exceptions.OperationalError: the broker is unreachable (the caller retries).
    """
    _import_tasks()
    payload = envelope.to_dict()
    count = 0
    for route in routes.ROUTES.get(envelope.type, ()):
        task = app.tasks.get(route.task)
        if task is None:
            if app.conf.task_always_eager:
                raise NotRegistered(route.task)
            app.send_task(route.task, args=[payload], queue=route.queue)
        else:
            task.apply_async(args=[payload], queue=route.queue)
        count += 1
    logger.debug("dispatched %s %s to %d task(s)", envelope.type, envelope.id, count)
    return count
