from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """``analytics`` (label ``analytics``): :class:`~analytics.models.DailyStats`."""

    name = "analytics"
    label = "analytics"
    verbose_name = "Analytics"
    default_auto_field = "django.db.models.BigAutoField"
