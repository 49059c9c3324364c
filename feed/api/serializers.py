"""Serializers of the feed API."""

from rest_framework import serializers

from feed.selectors import ORDERS
from posts.api.serializers import PostSerializer


class FeedQuerySerializer(serializers.Serializer):
    """Query parameters of ``GET /api/feed/``."""

    order = serializers.ChoiceField(choices=ORDERS, default="ranked")
    cursor = serializers.CharField(
        required=False, max_length=2000, error_messages={"max_length": "Invalid cursor.", "blank": "Invalid cursor."}
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)


class FeedPageSerializer(serializers.Serializer):
    """``{"results": [post], "next_cursor": str | null}``."""

    results = PostSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
