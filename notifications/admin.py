"""Admin of notifications (the ORM store's rows): browse and search; read-only audit fields."""

from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Notifications of the embedded-default store (the MongoDB store is not shown here)."""

    list_display = ("id", "recipient_id", "type", "actor_count", "post_id", "updated_at", "read_at")
    list_filter = ("type",)
    search_fields = ("=recipient_id", "=post_id", "=event_id")
    ordering = ("-updated_at", "-id")
    readonly_fields = ("event_id", "event_ids", "group_key", "created_at", "updated_at")
    show_full_result_count = False
