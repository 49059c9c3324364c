"""The ``bellamy.metrics`` app: ``/metrics``, the request middleware, the Celery signal
handlers and the admin operations page."""

from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "bellamy.metrics"
    label = "metrics"
    verbose_name = "Metrics and operations"

    def ready(self):
        from django.conf import settings
        from django.contrib import admin

        from bellamy.metrics import task_signals
        from bellamy.metrics.views import parse_allow_list

        # A typo in the allow-list stops the process at start, like an unknown backend URL.
        parse_allow_list(settings.BELLAMY_METRICS_ALLOW)
        task_signals.connect()
        # The admin index links the operations page (admin/bellamy_index.html extends the stock index).
        admin.site.index_template = "admin/bellamy_index.html"
