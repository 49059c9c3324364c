"""Posts, hashtags, mentions, likes, comments and reports (the ``posts`` domain).

Reads go through :mod:`posts.selectors` (the one place for visibility); writes through
:mod:`posts.services`, which also publish the events. Deleted posts and comments are soft
deleted (``deleted_at``): rows stay so that workers can remove their contributions
idempotently, but no read path returns them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from posts.parsing import HASHTAG_MAX_LENGTH

#: Longest post content, in characters, after trimming (API.md).
POST_MAX_LENGTH = 5000
#: Longest comment content, in characters, after trimming.
COMMENT_MAX_LENGTH = 2000
#: Longest report ``details``.
REPORT_DETAILS_MAX_LENGTH = 1000


class Post(models.Model):
    """A user's post.

    ``like_count`` and ``comment_count`` are denormalised counters kept by the services with
    ``F()`` updates. ``moderation_state`` other than ``visible`` hides the post from everyone
    but moderators; ``deleted_at`` hides it from everyone.
    """

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        FRIENDS = "friends", "Friends"
        PRIVATE = "private", "Private"

    class ModerationState(models.TextChoices):
        VISIBLE = "visible", "Visible"
        HIDDEN = "hidden", "Hidden"
        REMOVED = "removed", "Removed"

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts"
    )
    content = models.TextField()
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    like_count = models.PositiveIntegerField(default=0)
    comment_count = models.PositiveIntegerField(default=0)
    moderation_state = models.CharField(
        max_length=10, choices=ModerationState.choices, default=ModerationState.VISIBLE
    )
    deleted_at = models.DateTimeField(null=True, blank=True)
    hashtags = models.ManyToManyField(
        "posts.Hashtag", through="posts.PostHashtag", related_name="posts", blank=True
    )
    mentions = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="posts.PostMention",
        related_name="mentioned_in_posts",
        blank=True,
    )

    class Meta:
        indexes = [
            # A user's posts, newest first (GET /api/Post/users/{id}).
            models.Index(
                fields=["author", "-created_at", "-id"], name="posts_post_author_created"
            ),
            # Everyone's posts, newest first (feeds, hashtag pages).
            models.Index(fields=["-created_at", "-id"], name="posts_post_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(visibility__in=["public", "friends", "private"]),
                name="posts_post_visibility_valid",
            ),
            models.CheckConstraint(
                condition=Q(moderation_state__in=["visible", "hidden", "removed"]),
                name="posts_post_moderation_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Post {self.pk} by {self.author_id}"


class Hashtag(models.Model):
    """A hashtag; ``name`` is normalised (NFC, casefold, no ``#``): see :mod:`posts.parsing`."""

    name = models.CharField(max_length=HASHTAG_MAX_LENGTH, unique=True)

    def __str__(self) -> str:
        return f"#{self.name}"


class PostHashtag(models.Model):
    """A hashtag used in a post (``Post.hashtags`` goes through it); ids follow text order.

    ``created_at`` is a copy of the post's, written with the link (whoever changes a post's
    ``created_at`` changes its links' too), so that a hashtag's posts, newest first, are read
    from this table's index page by page instead of joining all of them to sort.
    """

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="post_hashtags")
    hashtag = models.ForeignKey(Hashtag, on_delete=models.CASCADE, related_name="post_hashtags")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "hashtag"], name="posts_posthashtag_unique"),
        ]
        indexes = [
            # A hashtag's posts, newest first (GET /api/trends/hashtags/{tag}/posts).
            models.Index(fields=["hashtag", "-created_at", "-post"], name="posts_posthashtag_listing"),
        ]

    def save(self, *args, **kwargs):
        # A link made one at a time takes its post's time; bulk writers pass it themselves.
        if self.created_at is None:
            self.created_at = self.post.created_at
        super().save(*args, **kwargs)


class PostMention(models.Model):
    """An existing, active user mentioned in a post (``Post.mentions`` goes through it)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="post_mentions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="post_mentions"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "user"], name="posts_postmention_unique"),
        ]


class Like(models.Model):
    """``user`` likes ``post``; at most one per pair."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="post_likes"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "user"], name="posts_like_unique"),
        ]
        indexes = [
            # Likes of a time range (the daily analytics rollup).
            models.Index(fields=["created_at"], name="posts_like_created"),
        ]

    def __str__(self) -> str:
        return f"Like of post {self.post_id} by {self.user_id}"


class Comment(models.Model):
    """A comment on a post: 1..2,000 characters (trimmed); soft deleted."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="post_comments"
    )
    content = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # A post's comments, oldest first.
            models.Index(fields=["post", "created_at", "id"], name="posts_comment_post_created"),
            # Comments of a time range (the daily analytics rollup).
            models.Index(fields=["created_at"], name="posts_comment_created"),
        ]

    def __str__(self) -> str:
        return f"Comment {self.pk} on post {self.post_id}"


class Report(models.Model):
    """A user's report of a post for moderators; one open report per (post, reporter).

    When the reporter's account is erased the report is anonymised (``reporter`` and
    ``details`` cleared), not deleted: what moderators decided about the post stays explained.
    """

    class Reason(models.TextChoices):
        SPAM = "spam", "Spam"
        ABUSE = "abuse", "Abuse"
        HARASSMENT = "harassment", "Harassment"
        MISINFORMATION = "misinformation", "Misinformation"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="reports")
    #: ``None`` once the reporter's account was erased: the report stays (moderation history)
    #: but no longer says who filed it.
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="post_reports"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    details = models.TextField(max_length=REPORT_DETAILS_MAX_LENGTH, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="resolved_post_reports",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["post", "reporter"],
                condition=Q(status="open"),
                name="posts_report_one_open_per_reporter",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="posts_report_status_created"),
        ]

    def __str__(self) -> str:
        return f"Report {self.pk} ({self.reason}) of post {self.post_id}"
