"""The staff analytics page: ``/admin/analytics/dailystats/`` shows SVG line charts of every
metric over the last 30 (default) or 90 days (``?days=90``) instead of a table.

Open to every active staff user (moderators included), like ``GET /api/analytics/daily``;
the rows are read-only (only the rollup writes them).
"""

from __future__ import annotations

from datetime import UTC

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from analytics.charts import line_charts, period
from analytics.models import DailyStats
from analytics.selectors import daily_stats
from bellamy.charts import STYLE

#: The periods offered on the page, in days.
PERIODS = (30, 90)


@admin.register(DailyStats)
class DailyStatsAdmin(admin.ModelAdmin):
    """Charts instead of a change list; every staff user may look, nobody may edit."""

    list_display = ("day", "active_users", "new_users", "posts", "likes", "comments", "friendships",
                    "notifications_sent", "events_processed", "computed_at")

    def _is_staff(self, request) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request):
        return self._is_staff(request)

    def has_view_permission(self, request, obj=None):
        return self._is_staff(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        """Render the charts of the last ``?days=`` (30 or 90; anything else means 30) days
        ending today (UTC); the rows cost one query."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = int(request.GET.get("days", PERIODS[0]))
        except ValueError:
            days = PERIODS[0]
        if days not in PERIODS:
            days = PERIODS[0]
        today = timezone.now().astimezone(UTC).date()
        span = period(days, until=today)
        rows = list(daily_stats(since=span[0], until=span[-1]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Daily statistics — last {days} days",
            "opts": self.model._meta,
            "charts": line_charts(rows, days=span),
            "chart_style": STYLE,
            "days": days,
            "periods": PERIODS,
            "since": span[0],
            "until": span[-1],
            "rows_found": len(rows),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/analytics/dailystats/charts.html", context)
