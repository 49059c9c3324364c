"""Admin for moderators: posts, comments, reports and (read-only) likes.

Moderation actions (hide/remove a post, resolve reports) come with the moderation workflow
and will call services so that events still fire; until then counters and soft-delete
markers are read-only here, because only the services keep them consistent.
"""

from django.contrib import admin

from posts.models import Comment, Hashtag, Like, Post, Report


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("id", "author", "visibility", "moderation_state", "created_at", "like_count", "comment_count")
    list_filter = ("visibility", "moderation_state", "created_at")
    search_fields = ("content", "author__username")
    list_select_related = ("author",)
    raw_id_fields = ("author",)
    readonly_fields = ("created_at", "edited_at", "like_count", "comment_count", "deleted_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")


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
class ReportAdmin(admin.ModelAdmin):
    list_display = ("id", "post", "reporter", "reason", "status", "created_at", "resolved_at")
    list_filter = ("status", "reason", "created_at")
    search_fields = ("details", "reporter__username", "post__content")
    list_select_related = ("post", "reporter")
    raw_id_fields = ("post", "reporter", "resolved_by")
    readonly_fields = ("created_at",)
    ordering = ("-created_at", "-id")


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
