from django.apps import AppConfig


class DemoConfig(AppConfig):
    """``demo``: the real-data importers, the end-to-end demo and its report (no models).

    Installed so that Django finds its management commands; it sits on the top floor, above
    every domain, and nothing below imports it.
    """

    name = "demo"
    label = "demo"
    verbose_name = "Demo on real data"
