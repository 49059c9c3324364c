"""Admin of the posts domain: posts, comments, reports, (read-only) likes and hashtags.

The change forms of posts and reports are read-only: state, counters and soft-delete markers
change only through the services. The moderation ACTIONS on posts and reports (hide, remove,
restore, resolve, dismiss) are added by :mod:`moderation.admin`, which registers subclasses of
:class:`PostAdmin` and :class:`ReportAdmin` with them.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from posts.models import Comment, Hashtag, Like, Post, Report


class ReadOnlyFormMixin:
    """Change forms show the object read-only (``has_change_permission`` is false for an
    object) while actions that need the ``change`` permission stay available on the list;
    nothing can be added or deleted here (only the services create and soft-delete)."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)


@admin.register(Post)
class PostAdmin(ReadOnlyFormMixin, admin.ModelAdmin):
    list_display = ("id", "author", "excerpt", "visibility", "moderation_state", "created_at", "like_count", "comment_count")
    list_filter = ("moderation_state", "visibility", "created_at")
    search_fields = ("content", "author__username")
    list_select_related = ("author",)
    fields = (
        "author", "content", "visibility", "moderation_state", "created_at", "edited_at",
        "like_count", "comment_count", "deleted_at",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    @admin.display(description="content")
    def excerpt(self, post: Post) -> str:
        return Truncator(post.content).chars(60)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("id", "post", "author", "created_at", "deleted_at")
    list_filter = ("created_at",)
    search_fields = ("content", "author__username")
    list_select_related = ("post", "author")
    raw_id_fields = ("post", "author")
    readonly_fields = ("created_at", "deleted_at")
    ordering = ("-created_at", "-id")


@admin.register(Report)
class ReportAdmin(ReadOnlyFormMixin, admin.ModelAdmin):
    """Reports by status and reason, each with its post (resolved or dismissed through the
    actions of :mod:`moderation.admin`)."""

    list_display = (
        "id", "status", "reason", "post_link", "post_state", "reporter", "created_at", "resolved_at", "resolved_by",
    )
    list_filter = ("status", "reason", "created_at")
    search_fields = ("details", "reporter__username", "post__content")
    list_select_related = ("post", "post__author", "reporter", "resolved_by")
    fields = ("post", "reporter", "reason", "details", "status", "created_at", "resolved_at", "resolved_by")
    readonly_fields = fields
    ordering = ("-created_at", "-id")

    @admin.display(description="post", ordering="post_id")
    def post_link(self, report: Report) -> str:
        url = reverse("admin:posts_post_change", args=[report.post_id])
        return format_html(
            '<a href="{}">#{} by {}</a>: {}',
            url, report.post_id, report.post.author, Truncator(report.post.content).chars(60),
        )

    @admin.display(description="post state", ordering="post__moderation_state")
    def post_state(self, report: Report) -> str:
        return report.post.get_moderation_state_display()


@admin.register(Like)
class LikeAdmin(admin.ModelAdmin):
    """Read-only: likes change only through the API (the services keep ``like_count``)."""

    list_display = ("id", "post", "user", "created_at")
    list_select_related = ("post", "user")
    raw_id_fields = ("post", "user")
    search_fields = ("user__username",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Hashtag)
class HashtagAdmin(admin.ModelAdmin):
    list_display = ("id", "name")
    search_fields = ("name",)
    ordering = ("name",)
