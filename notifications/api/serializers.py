"""Serializers of the notifications API (API.md "Feed, trends, notifications").

Notification objects are built by :func:`notifications.selectors.notification_objects` (one
actor query per page); :class:`NotificationSerializer` documents their shape for the schema.
"""

from __future__ import annotations

from rest_framework import serializers

from bellamy.accounts.api.serializers import UserSerializer
from notifications.stores.base import TYPES

#: Most ids one mark-read call accepts.
MAX_READ_IDS = 500


class NotificationSerializer(serializers.Serializer):
    """``{id, type, actors: [user], actor_count, post_id, comment_id, created_at, read}``."""

    id = serializers.CharField(help_text="Opaque string id (it may come from MongoDB).")
    type = serializers.ChoiceField(choices=TYPES)
    actors = UserSerializer(many=True, help_text="Most recent first (at most 10).")
    actor_count = serializers.IntegerField(help_text="Distinct actors (1 unless grouped).")
    post_id = serializers.IntegerField(allow_null=True)
    comment_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    read = serializers.BooleanField()


class NotificationPageSerializer(serializers.Serializer):
    """``{results: [notification], next_cursor, unread_count}``."""

    results = NotificationSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    unread_count = serializers.IntegerField()


class UnreadCountSerializer(serializers.Serializer):
    """``{unread_count}``."""

    unread_count = serializers.IntegerField()


class StrictBooleanField(serializers.BooleanField):
    """Only the JSON booleans ``true`` / ``false`` (no ``"yes"``, ``1``, ``"true"``)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictCharField(serializers.CharField):
    """A string, never a number converted to text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class MarkReadSerializer(serializers.Serializer):
    """``{ids: [str, ...]}`` (at most 500) or ``{all: true}`` — exactly one of them."""

    ids = serializers.ListField(
        child=StrictCharField(max_length=64), max_length=MAX_READ_IDS, required=False, allow_empty=True
    )
    all = StrictBooleanField(required=False)

    def validate(self, attrs):
        has_ids = "ids" in attrs
        wants_all = attrs.get("all") is True
        if "all" in attrs and not wants_all:
            raise serializers.ValidationError({"all": ["Must be true when given."]})
        if has_ids == wants_all:
            raise serializers.ValidationError({"non_field_errors": ["Give either 'ids' or 'all': true, not both."]})
        return attrs


class MarkReadResultSerializer(serializers.Serializer):
    """``{updated: n}``: how many notifications went from unread to read."""

    updated = serializers.IntegerField()


class NotificationListQuerySerializer(serializers.Serializer):
    """Query of the list: ``unread`` is ``true`` or ``false`` (default false)."""

    unread = serializers.ChoiceField(choices=["true", "false"], required=False, default="false")
