"""Admin for users: search by username, e-mail or display name; the profile fields next to
Django's own, and the account state (read-only: it changes only through the services). The
moderators' actions (suspend, deactivate, delete) are added by :mod:`moderation.admin`, which
registers a subclass of :class:`UserAdmin` with them (so that accounts imports no domain app).
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from bellamy.accounts.models import AccountErasure, User

#: The account-state fields (README "Account lifecycle"), shown read-only.
STATE_FIELDS = ("suspended_at", "deactivated_at", "deletion_due_at", "erased_at")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "email", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("username", "display_name", "email")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Profile", {"fields": ("display_name", "bio")}),
        ("Account state", {"fields": STATE_FIELDS}),
    )
    readonly_fields = STATE_FIELDS


@admin.register(AccountErasure)
class AccountErasureAdmin(admin.ModelAdmin):
    """The tombstones of erased accounts: read-only for everyone."""

    list_display = ("user_id", "due_at", "erased_at", "completed_at", "event_id")
    list_filter = ("completed_at",)
    ordering = ("-erased_at",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
