"""Serializers of ``GET /api/analytics/daily``."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.utils import timezone
from rest_framework import serializers

from analytics.models import DailyStats

#: Longest range one request may ask for, in days (inclusive of both ends).
MAX_RANGE_DAYS = 366
#: Days returned when ``since`` is not given (ending with ``until``).
DEFAULT_RANGE_DAYS = 30


class DailyQuerySerializer(serializers.Serializer):
    """Query: ``since`` and ``until`` as ``YYYY-MM-DD`` (UTC days, both inclusive). ``until``
    defaults to today, ``since`` to 29 days before ``until``. A malformed date, ``since`` after
    ``until`` or a range over 366 days is a 400 ``{field: [message]}``."""

    since = serializers.DateField(required=False, input_formats=["%Y-%m-%d"])
    until = serializers.DateField(required=False, input_formats=["%Y-%m-%d"])

    def validate(self, attrs):
        until = attrs.get("until") or timezone.now().astimezone(UTC).date()
        since = attrs.get("since") or until - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        if since > until:
            raise serializers.ValidationError({"since": ["since must not be after until."]})
        if (until - since).days + 1 > MAX_RANGE_DAYS:
            raise serializers.ValidationError({"since": [f"The range is longer than {MAX_RANGE_DAYS} days."]})
        return {"since": since, "until": until}


class DailyStatsSerializer(serializers.ModelSerializer):
    """A day: ``{day, active_users, new_users, posts, likes, comments, friendships,
    notifications_sent (int or null), events_processed, computed_at}``."""

    class Meta:
        model = DailyStats
        fields = (
            "day", "active_users", "new_users", "posts", "likes", "comments", "friendships",
            "notifications_sent", "events_processed", "computed_at",
        )
        read_only_fields = fields
