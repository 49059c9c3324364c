"""Serializers of the trends API (API.md "Feed, trends, notifications")."""

from __future__ import annotations

from rest_framework import serializers

from bellamy.api.pagination import MAX_LIMIT
from trends import trending

#: Default ``limit`` of ``GET /api/trends/``.
DEFAULT_TRENDS_LIMIT = 10


class TrendQuerySerializer(serializers.Serializer):
    """Query of ``GET /api/trends/``: ``window`` ∈ ``1h, 24h, 7d`` (default ``24h``),
    ``limit`` 1..100 (default 10). Anything else is a 400 ``{field: [message]}``."""

    window = serializers.ChoiceField(choices=sorted(trending.WINDOWS), default="24h")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_TRENDS_LIMIT)


class TrendSerializer(serializers.Serializer):
    """A trend: ``{hashtag, score, post_count, unique_authors, window}`` from a
    :class:`~trends.models.GlobalTrend` with its hashtag joined."""

    hashtag = serializers.CharField(source="hashtag.name")
    score = serializers.FloatField()
    post_count = serializers.IntegerField()
    unique_authors = serializers.IntegerField()
    window = serializers.CharField()
