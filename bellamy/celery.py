"""The Celery app. Configured from Django settings (``CELERY_*``); eager when no broker is set.

Queues: ``scoring``, ``graph``, ``notifications``, ``trends``, ``default`` — one worker each
in production (``celery -A bellamy worker -Q scoring``). Tasks are named explicitly
(``<app>.<action>_task``) so the routing table can name them as strings.

Delivery (``bellamy/settings.py``): tasks are acknowledged after they ran, a worker reserves only
the task it runs, and a task whose worker died is handed out again after
``BELLAMY_TASK_VISIBILITY_TIMEOUT`` seconds. Event tasks retry and dead-letter their own failures
(:mod:`bellamy.events.idempotency`).

Database connections: every process borrows from its psycopg pool (README "Processes"). A task
returns its connection to the pool when it ends, as a request does (Django's
``close_old_connections`` on ``task_prerun``/``task_postrun``). Celery's Django fix-up would
instead close the whole pool around every task in prefork children (celery#10554, open): each
task then connected anew, and a pool closed under the outbox relay thread failed its relay pass
("pool has already been opened/closed"), leaving the events a worker published to the periodic
sweep. ``CELERY_DB_REUSE_MAX`` switches that per-task closing off; the fix-up still closes the
connections and pools a prefork child inherits from its parent.
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bellamy.settings")

app = Celery("bellamy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(CELERY_DB_REUSE_MAX=2**62)
app.autodiscover_tasks()


@signals.task_prerun.connect(weak=False, dispatch_uid="bellamy.celery.connections_before")
@signals.task_postrun.connect(weak=False, dispatch_uid="bellamy.celery.connections_after")
def _return_connections(task=None, **_kwargs) -> None:
    """Give this thread's database connections back to the pool (or drop broken ones) — on a
    worker, not for an eager task, which runs inside its caller's request or transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
