"""Admin for users: moderators search by username, e-mail or display name, and suspend or
unsuspend users with the "Suspend user" / "Unsuspend user" actions (which call
:mod:`bellamy.accounts.moderation`, so tokens are blacklisted, sockets closed and the audit
log written). Moderators hold ``accounts.view_user`` and ``accounts.suspend_user`` only: they
cannot edit, add or delete users.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from bellamy.accounts import moderation
from bellamy.accounts.models import User
from posts.admin import ReasonActionForm, run_moderation_action


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "email", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("username", "display_name", "email")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Profile", {"fields": ("display_name", "bio")}))
    action_form = ReasonActionForm
    actions = ("suspend_users", "unsuspend_users")

    def has_suspend_permission(self, request) -> bool:
        """Whether the "Suspend user" / "Unsuspend user" actions are offered."""
        return request.user.has_perm(moderation.SUSPEND_PERMISSION)

    @admin.action(description="Suspend user", permissions=["suspend"])
    def suspend_users(self, request, queryset):
        run_moderation_action(
            self, request, queryset, service=moderation.user_suspend, subject="user", done="Suspended", already="suspended"
        )

    @admin.action(description="Unsuspend user", permissions=["suspend"])
    def unsuspend_users(self, request, queryset):
        run_moderation_action(
            self, request, queryset, service=moderation.user_unsuspend, subject="user", done="Unsuspended", already="active"
        )
