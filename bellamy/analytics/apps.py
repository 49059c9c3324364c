from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """``bellamy.analytics`` (label ``analytics``): :class:`~bellamy.analytics.models.DailyStats`."""

    name = "bellamy.analytics"
    label = "analytics"
    verbose_name = "Analytics"
    default_auto_field = "django.db.models.BigAutoField"
