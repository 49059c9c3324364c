"""The Celery app. Configured from Django settings (``CELERY_*``); eager when no broker is set.

Queues: ``scoring``, ``graph``, ``notifications``, ``trends``, ``default`` — one worker each
in production (``celery -A bellamy worker -Q scoring``). Tasks are named explicitly
(``<app>.<action>_task``) so the routing table can name them as strings.

Delivery (``bellamy/settings.py``): tasks are acknowledged after they ran, a worker reserves only
the task it runs, and a task whose worker died is handed out again after
``BELLAMY_TASK_VISIBILITY_TIMEOUT`` seconds. Event tasks retry and dead-letter their own failures
(:mod:`bellamy.events.idempotency`).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bellamy.settings")

app = Celery("bellamy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
