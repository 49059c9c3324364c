"""Admin for users: search by username, e-mail or display name; the profile fields next to
Django's own. The moderators' "Suspend user" / "Unsuspend user" actions are added by
:mod:`moderation.admin`, which registers a subclass of :class:`UserAdmin` with them (so that
accounts imports no domain app).
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from bellamy.accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "email", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("username", "display_name", "email")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Profile", {"fields": ("display_name", "bio")}))
