"""Admin for the social graph: moderators look up requests, friendships and blocks by username.

Rows are read-mostly here: changes that must publish events go through :mod:`graph.services`
from the API, so the audit fields are read-only.
"""

from django.contrib import admin

from graph.models import Block, FriendRequest, Friendship


@admin.register(FriendRequest)
class FriendRequestAdmin(admin.ModelAdmin):
    """Friend requests, filterable by status; search by either user's username."""

    list_display = ("id", "from_user", "to_user", "status", "created_at", "responded_at")
    list_filter = ("status", "created_at")
    search_fields = ("from_user__username", "to_user__username")
    list_select_related = ("from_user", "to_user")
    raw_id_fields = ("from_user", "to_user")
    readonly_fields = ("created_at", "responded_at")
    date_hierarchy = "created_at"


@admin.register(Friendship)
class FriendshipAdmin(admin.ModelAdmin):
    """Friendships (one row per pair, lower id first); search by either user's username."""

    list_display = ("id", "user_low", "user_high", "created_at")
    list_filter = ("created_at",)
    search_fields = ("user_low__username", "user_high__username")
    list_select_related = ("user_low", "user_high")
    raw_id_fields = ("user_low", "user_high")
    readonly_fields = ("created_at",)


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    """Blocks; search by the blocker's or the blocked user's username."""

    list_display = ("id", "blocker", "blocked", "created_at")
    list_filter = ("created_at",)
    search_fields = ("blocker__username", "blocked__username")
    list_select_related = ("blocker", "blocked")
    raw_id_fields = ("blocker", "blocked")
    readonly_fields = ("created_at",)
