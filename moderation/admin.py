"""Admin for moderators: the moderation actions on posts, reports and users, and the audit log.

Moderation happens through admin ACTIONS that call :mod:`moderation.services`, so events fire,
audit rows are written and the workers drop moderated content exactly as for any other write.
Every action takes a reason from :class:`ReasonActionForm` (a text field next to the action
dropdown); an empty reason is refused with an error message and changes nothing.

The posts and accounts apps register their own admins (listing, search, read-only forms) and
know nothing of moderation; this module replaces those registrations with subclasses that add
the actions (``admin.site.unregister`` + ``register``), so it must be imported after
``posts.admin`` and ``bellamy.accounts.admin`` — the ``moderation`` app is installed after both.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.text import Truncator

from bellamy.accounts.admin import UserAdmin
from moderation import services
from moderation.models import ModerationAction
from posts.admin import PostAdmin, ReportAdmin
from posts.models import Post, Report


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
        service: e.g. :func:`moderation.services.post_hide`; called as
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
        reason = services.clean_reason(request.POST.get("reason", ""))
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


def moderation_action(
    name: str, description: str, service: Callable, *, subject: str, done: str, already: str, permission: str
) -> Callable:
    """An admin action ``name`` (the value the action dropdown posts) that runs ``service`` on
    the selected objects through :func:`run_moderation_action`; offered only to users for whom
    the model admin's ``has_<permission>_permission`` is true."""

    def action(modeladmin, request, queryset):
        run_moderation_action(modeladmin, request, queryset, service=service, subject=subject, done=done, already=already)

    action.__name__ = action.__qualname__ = name
    return admin.action(description=description, permissions=[permission])(action)


admin.site.unregister(Post)


@admin.register(Post)
class PostModerationAdmin(PostAdmin):
    """Posts with the actions "Hide post", "Remove post", "Restore post" (``posts.change_post``)."""

    action_form = ReasonActionForm
    actions = (
        moderation_action("hide_posts", "Hide post", services.post_hide,
                          subject="post", done="Hid", already="hidden", permission="change"),
        moderation_action("remove_posts", "Remove post", services.post_remove,
                          subject="post", done="Removed", already="removed", permission="change"),
        moderation_action("restore_posts", "Restore post", services.post_restore,
                          subject="post", done="Restored", already="visible", permission="change"),
    )


admin.site.unregister(Report)


@admin.register(Report)
class ReportModerationAdmin(ReportAdmin):
    """Reports with the actions "Resolve" and "Dismiss" (``posts.change_report``)."""

    action_form = ReasonActionForm
    actions = (
        moderation_action("resolve_reports", "Resolve", services.report_resolve,
                          subject="report", done="Resolved", already="resolved", permission="change"),
        moderation_action("dismiss_reports", "Dismiss", services.report_dismiss,
                          subject="report", done="Dismissed", already="dismissed", permission="change"),
    )


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserModerationAdmin(UserAdmin):
    """Users with "Suspend user" / "Unsuspend user" (``accounts.suspend_user``), "Deactivate
    account" / "Reactivate account" (``accounts.deactivate_user``) and "Delete account"
    (``accounts.erase_user``: staff granted it and superusers, not moderators). Moderators hold
    ``accounts.view_user``, ``accounts.suspend_user`` and ``accounts.deactivate_user`` only:
    they cannot edit, add or delete users.

    Django's own deletion (the "Delete selected" action and the delete page) is switched off for
    everyone: it would drop the row and its PostgreSQL rows without telling the other stores.
    "Delete account" erases through ``user.deleted`` instead (README "Account lifecycle").
    """

    action_form = ReasonActionForm
    actions = (
        moderation_action("suspend_users", "Suspend user", services.user_suspend,
                          subject="user", done="Suspended", already="suspended", permission="suspend"),
        moderation_action("unsuspend_users", "Unsuspend user", services.user_unsuspend,
                          subject="user", done="Unsuspended", already="active", permission="suspend"),
        moderation_action("deactivate_users", "Deactivate account", services.user_deactivate,
                          subject="user", done="Deactivated", already="deactivated", permission="deactivate"),
        moderation_action("reactivate_users", "Reactivate account", services.user_reactivate,
                          subject="user", done="Reactivated", already="active", permission="deactivate"),
        moderation_action("delete_accounts", "Delete account (erase everywhere, irreversible)", services.user_delete,
                          subject="user", done="Deleted", already="deleted", permission="erase"),
    )

    def has_suspend_permission(self, request) -> bool:
        """Whether the "Suspend user" / "Unsuspend user" actions are offered."""
        return request.user.has_perm(services.SUSPEND_PERM)

    def has_deactivate_permission(self, request) -> bool:
        """Whether the "Deactivate account" / "Reactivate account" actions are offered."""
        return request.user.has_perm(services.DEACTIVATE_PERM)

    def has_erase_permission(self, request) -> bool:
        """Whether the "Delete account" action is offered (staff with ``accounts.erase_user``)."""
        return request.user.is_staff and request.user.has_perm(services.ERASE_PERM)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
