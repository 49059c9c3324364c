"""Serializers of the posts API (API.md "Posts").

Output: :class:`PostSerializer` (the post object every API embeds — the feed and hashtag
pages reuse it), :class:`CommentSerializer`, :class:`ReportSerializer`. Input serializers
validate bodies strictly: text must be a JSON string (numbers and booleans are refused, not
converted), enums must be known values; errors are DRF's ``{"field": ["message"]}`` (400).
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bellamy.accounts.api.serializers import StrictCharField, UserSerializer
from posts.models import (
    COMMENT_MAX_LENGTH,
    POST_MAX_LENGTH,
    REPORT_DETAILS_MAX_LENGTH,
    Comment,
    Post,
    Report,
)


class PostSerializer(serializers.ModelSerializer):
    """The post object: ``{id, author: user, content, visibility, hashtags: [name..],
    mentions: [user..], created_at, edited_at, like_count, comment_count, liked_by_me, score}``.

    Expects a post from :func:`posts.selectors.visible_posts` (author joined, hashtag and
    mention links prefetched, ``liked_by_me`` and ``score`` annotated), or the post
    :func:`posts.services.post_create` returns (``hashtag_names`` and ``mentioned_users``
    attached, so the 201 needs no query); a post without the annotations serializes
    ``liked_by_me`` as false and ``score`` as null.

    The fields below define the object (and the OpenAPI schema); :meth:`to_representation`
    renders it directly from them — the same output as DRF's field-by-field rendering (a test
    compares the two), without building a ModelSerializer's fields per serializer, which cost
    a third of a post request's CPU (bench/README.md).
    """

    author = UserSerializer(read_only=True)
    hashtags = serializers.SerializerMethodField()
    mentions = serializers.SerializerMethodField()
    liked_by_me = serializers.SerializerMethodField()
    score = serializers.SerializerMethodField()

    class Meta:
        model = Post
        fields = (
            "id",
            "author",
            "content",
            "visibility",
            "hashtags",
            "mentions",
            "created_at",
            "edited_at",
            "like_count",
            "comment_count",
            "liked_by_me",
            "score",
        )
        read_only_fields = fields

    def to_representation(self, post: Post) -> dict:
        return {
            "id": post.pk,
            "author": user_object(post.author),
            "content": post.content,
            "visibility": str(post.visibility),
            "hashtags": self.get_hashtags(post),
            "mentions": self.get_mentions(post),
            "created_at": post_datetime(post.created_at),
            "edited_at": post_datetime(post.edited_at),
            "like_count": post.like_count,
            "comment_count": post.comment_count,
            "liked_by_me": self.get_liked_by_me(post),
            "score": self.get_score(post),
        }

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_hashtags(self, post: Post) -> list[str]:
        names = getattr(post, "hashtag_names", None)
        return list(names) if names is not None else [link.hashtag.name for link in post.post_hashtags.all()]

    @extend_schema_field(UserSerializer(many=True))
    def get_mentions(self, post: Post) -> list[dict]:
        users = getattr(post, "mentioned_users", None)
        if users is None:
            users = [link.user for link in post.post_mentions.all()]
        # A mentioned account that went inactive (deactivated, suspended, erased) is not shown.
        return [user_object(user) for user in users if user.is_active]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_liked_by_me(self, post: Post) -> bool:
        return bool(getattr(post, "liked_by_me", False))

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_score(self, post: Post) -> float | None:
        return getattr(post, "score", None)


def user_object(user) -> dict:
    """The public user object (:class:`UserSerializer`'s fields) of a post's author or mention."""
    return {"id": user.pk, "username": user.username, "display_name": user.display_name, "bio": user.bio,
            "date_joined": post_datetime(user.date_joined)}


def post_datetime(value: datetime | None) -> str | None:
    """DRF's ``DateTimeField`` output: ISO 8601 in the current time zone, UTC as ``Z`` (how
    the post object shows its times)."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class PostCreateSerializer(serializers.Serializer):
    """Body of ``POST /api/Post/users/{userId}``: ``{content, visibility?}``."""

    content = StrictCharField(max_length=POST_MAX_LENGTH, trim_whitespace=True)
    visibility = serializers.ChoiceField(
        choices=Post.Visibility.choices, default=Post.Visibility.PUBLIC
    )


class PostUpdateSerializer(serializers.Serializer):
    """Body of ``PATCH /api/posts/{id}``: ``{content?, visibility?}``, at least one."""

    content = StrictCharField(max_length=POST_MAX_LENGTH, trim_whitespace=True, required=False)
    visibility = serializers.ChoiceField(choices=Post.Visibility.choices, required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give at least one of content, visibility.")
        return attrs


class CommentSerializer(serializers.ModelSerializer):
    """The comment object: ``{id, post_id, author: user, content, created_at}``."""

    post_id = serializers.IntegerField(read_only=True)
    author = UserSerializer(read_only=True)

    class Meta:
        model = Comment
        fields = ("id", "post_id", "author", "content", "created_at")
        read_only_fields = fields


class CommentCreateSerializer(serializers.Serializer):
    """Body of ``POST /api/posts/{id}/comments``: ``{content}`` (1..2,000 characters trimmed)."""

    content = StrictCharField(max_length=COMMENT_MAX_LENGTH, trim_whitespace=True)


class ReportSerializer(serializers.ModelSerializer):
    """The report object: ``{id, post_id, reason, details, status, created_at}``."""

    post_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Report
        fields = ("id", "post_id", "reason", "details", "status", "created_at")
        read_only_fields = fields


class ReportCreateSerializer(serializers.Serializer):
    """Body of ``POST /api/posts/{id}/report``: ``{reason, details?}``."""

    reason = serializers.ChoiceField(choices=Report.Reason.choices)
    details = StrictCharField(
        max_length=REPORT_DETAILS_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
