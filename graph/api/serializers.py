"""Serializers of the social-graph API (API.md "Social graph")."""

from __future__ import annotations

from rest_framework import serializers

from bellamy.accounts.api.serializers import UserSerializer
from graph.models import Block, FriendRequest

#: Largest id a PostgreSQL ``bigint`` primary key can hold.
MAX_ID = 2**63 - 1


class StrictIdField(serializers.IntegerField):
    """A positive integer id given as a JSON number: ``"5"``, ``1.5``, ``true`` are refused."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class FriendRequestCreateSerializer(serializers.Serializer):
    """POST /api/friends/requests body: ``{to_user_id}``."""

    to_user_id = StrictIdField()


class FriendRequestSerializer(serializers.ModelSerializer):
    """A friend request: ``{id, from_user: user, to_user: user, status, created_at}``."""

    from_user = UserSerializer(read_only=True)
    to_user = UserSerializer(read_only=True)

    class Meta:
        model = FriendRequest
        fields = ("id", "from_user", "to_user", "status", "created_at")
        read_only_fields = fields


class FriendRequestListQuerySerializer(serializers.Serializer):
    """``?direction=incoming|outgoing`` (default ``incoming``)."""

    direction = serializers.ChoiceField(choices=["incoming", "outgoing"], default="incoming")


class AcceptanceSerializer(serializers.Serializer):
    """Accepted request: ``{friend: user, since}`` (``since`` = when the friendship began)."""

    friend = UserSerializer(read_only=True)
    since = serializers.DateTimeField(read_only=True)


class BlockCreateSerializer(serializers.Serializer):
    """POST /api/blocks body: ``{user_id}``."""

    user_id = StrictIdField()


class BlockSerializer(serializers.ModelSerializer):
    """A block just made: ``{user_id, created_at}``."""

    user_id = serializers.IntegerField(source="blocked_id", read_only=True)

    class Meta:
        model = Block
        fields = ("user_id", "created_at")
        read_only_fields = fields


class BlockListItemSerializer(BlockSerializer):
    """An item of GET /api/blocks: ``{user_id, user: user, created_at}``."""

    user = UserSerializer(source="blocked", read_only=True)

    class Meta(BlockSerializer.Meta):
        fields = ("user_id", "user", "created_at")
        read_only_fields = fields
