"""Analytics routes, mounted under ``/api/``."""

from django.urls import path

from analytics.api.views import DailyStatsView

urlpatterns = [path("analytics/daily", DailyStatsView.as_view(), name="analytics-daily")]
