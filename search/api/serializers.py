"""Serializers of the search API: the query string and the three page shapes."""

from __future__ import annotations

from rest_framework import serializers

from bellamy.accounts.api.serializers import UserSerializer
from bellamy.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from posts.api.serializers import PostSerializer
from search.query import POSTS, QUERY_MAX_LENGTH, TYPES

_LIMIT_MESSAGE = f"Must be an integer between 1 and {MAX_LIMIT}."


class SearchQuerySerializer(serializers.Serializer):
    """``?q=&type=&cursor=&limit=`` of ``GET /api/search``; errors are ``{field: [message]}``."""

    q = serializers.CharField(max_length=QUERY_MAX_LENGTH, trim_whitespace=True)
    type = serializers.ChoiceField(choices=TYPES, default=POSTS)
    cursor = serializers.CharField(required=False, max_length=1000, trim_whitespace=False)
    limit = serializers.IntegerField(
        required=False, default=DEFAULT_LIMIT, min_value=1, max_value=MAX_LIMIT,
        error_messages={key: _LIMIT_MESSAGE for key in ("invalid", "min_value", "max_value", "max_string_length")},
    )


class HashtagResultSerializer(serializers.Serializer):
    """A hashtag found by prefix: ``{name, post_count, last_used_at}`` (public posts only)."""

    name = serializers.CharField(help_text="Normalised hashtag name, without #.")
    post_count = serializers.IntegerField(help_text="Public, visible posts using it.")
    last_used_at = serializers.DateTimeField(help_text="Creation time of the newest such post.")


class PostSearchPageSerializer(serializers.Serializer):
    """``type=posts``: posts, best first."""

    type = serializers.ChoiceField(choices=["posts"], help_text="The ``type`` searched.")

    results = PostSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class UserSearchPageSerializer(serializers.Serializer):
    """``type=users``: people, best first."""

    type = serializers.ChoiceField(choices=["users"], help_text="The ``type`` searched.")

    results = UserSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class HashtagSearchPageSerializer(serializers.Serializer):
    """``type=hashtags``: hashtags, most recently used first."""

    type = serializers.ChoiceField(choices=["hashtags"], help_text="The ``type`` searched.")

    results = HashtagResultSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
