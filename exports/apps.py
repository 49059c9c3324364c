from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """``exports``: a user's data export (top floor: it reads every domain that holds the
    user — posts, graph, notifications — and no domain imports it)."""

    name = "exports"
    label = "exports"
    verbose_name = "Data exports"
