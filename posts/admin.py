"""Admin for moderators: posts, comments, reports, (read-only) likes and the audit log.

Moderation happens through admin ACTIONS that call the services of :mod:`posts.moderation`
(and :mod:`bellamy.accounts.moderation` for users), so events fire, audit rows are written
and the workers drop moderated content exactly as for any other write. The change forms of
posts and reports are read-only: state, counters and soft-delete markers change only through
the services. Every action takes a reason from :class:`ReasonActionForm` (a text field next to
the action dropdown); an empty reason is refused with an error message and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from posts import moderation
from posts.models import Comment, Hashtag, Like, ModerationAction, Post, Report


class ReasonActionForm(ActionForm):
    """The admin action form plus a ``reason`` field (required by every moderation action;
    checked by :func:`run_moderation_action` so that a missing reason gets a clear message)."""

    reason = forms.CharField(
        required=False,
        label="Reason",
        widget=forms.TextInput(attrs={"placeholder": "Reason (required)", "size": 40}),
    )


def run_moderation_action(
    modeladmin: admin.ModelAdmin,
    request,
    queryset,
    *,
    service: Callable,
    subject: str,
    done: str,
    already: str,
) -> None:
    """Apply a moderation ``service`` to each selected object and report the outcome.

    Args:
        service: e.g. :func:`posts.moderation.post_hide`; called as
            ``service(**{subject: obj}, moderator=request.user, reason=reason)``; returns the
            audit row or ``None`` for a no-op.
        subject: the service's keyword for the object (``"post"``, ``"report"``, ``"user"``).
        done: past-tense message head, e.g. ``"Hid"``.
        already: state of the no-ops, e.g. ``"hidden"``.
    Messages:
        error when ``reason`` is empty or invalid (nothing is done); success with the number
        changed and unchanged; error for each object the moderator may not act on.
    """
    try:
        reason = moderation.clean_reason(request.POST.get("reason", ""))
    except ValidationError as exc:
        modeladmin.message_user(request, f"{exc.messages[0]} Nothing was changed.", messages.ERROR)
        return
    changed = unchanged = 0
    for obj in queryset.order_by("pk"):
        try:
            result = service(**{subject: obj}, moderator=request.user, reason=reason)
        except PermissionDenied as exc:
            modeladmin.message_user(request, f"{obj}: {exc}", messages.ERROR)
            continue
        if result is None:
            unchanged += 1
        else:
            changed += 1
    modeladmin.message_user(
        request, f"{done} {changed}; {unchanged} already {already}.", messages.SUCCESS if changed else messages.WARNING
    )


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
    action_form = ReasonActionForm
    actions = ("hide_posts", "remove_posts", "restore_posts")

    @admin.display(description="content")
    def excerpt(self, post: Post) -> str:
        return Truncator(post.content).chars(60)

    @admin.action(description="Hide post", permissions=["change"])
    def hide_posts(self, request, queryset):
        run_moderation_action(self, request, queryset, service=moderation.post_hide, subject="post", done="Hid", already="hidden")

    @admin.action(description="Remove post", permissions=["change"])
    def remove_posts(self, request, queryset):
        run_moderation_action(
            self, request, queryset, service=moderation.post_remove, subject="post", done="Removed", already="removed"
        )

    @admin.action(description="Restore post", permissions=["change"])
    def restore_posts(self, request, queryset):
        run_moderation_action(
            self, request, queryset, service=moderation.post_restore, subject="post", done="Restored", already="visible"
        )


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
    """Reports by status and reason, each with its post; resolve or dismiss them."""

    list_display = (
        "id", "status", "reason", "post_link", "post_state", "reporter", "created_at", "resolved_at", "resolved_by",
    )
    list_filter = ("status", "reason", "created_at")
    search_fields = ("details", "reporter__username", "post__content")
    list_select_related = ("post", "post__author", "reporter", "resolved_by")
    fields = ("post", "reporter", "reason", "details", "status", "created_at", "resolved_at", "resolved_by")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    action_form = ReasonActionForm
    actions = ("resolve_reports", "dismiss_reports")

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

    @admin.action(description="Resolve", permissions=["change"])
    def resolve_reports(self, request, queryset):
        run_moderation_action(
            self, request, queryset, service=moderation.report_resolve, subject="report", done="Resolved", already="resolved"
        )

    @admin.action(description="Dismiss", permissions=["change"])
    def dismiss_reports(self, request, queryset):
        run_moderation_action(
            self, request, queryset, service=moderation.report_dismiss, subject="report", done="Dismissed", already="dismissed"
        )


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    """The audit log: read-only for everyone, superusers included."""

    list_display = ("created_at", "action", "moderator", "post", "report", "target_user", "short_reason")
    list_filter = ("action", "created_at")
    search_fields = ("reason", "moderator__username", "target_user__username")
    list_select_related = ("moderator", "post", "report", "target_user")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    @admin.display(description="reason")
    def short_reason(self, action: ModerationAction) -> str:
        return Truncator(action.reason).chars(80)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
