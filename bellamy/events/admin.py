"""Admin of the event backbone: dead letters, read-only.

An operator looks here for what a worker gave up on and why; replaying or purging goes through
``manage.py events_dead_letters`` (the same services the command documents), never through edits.
"""

from django.contrib import admin
from django.db.models import Q

from bellamy.events.models import DeadLetter


class _ReplayedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("pending", "pending"), ("replayed", "replayed"))

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(replayed_at__isnull=True)
        if self.value() == "replayed":
            return queryset.filter(~Q(replayed_at=None))
        return queryset


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    """Dead letters, newest failure first; filter by task, queue and state; search the reason."""

    list_display = ("id", "task_name", "queue", "event_count", "attempts", "first_failed_at", "last_failed_at",
                    "replayed_at", "short_reason")
    list_filter = (_ReplayedFilter, "task_name", "queue")
    search_fields = ("task_name", "reason")
    ordering = ("-last_failed_at", "-id")
    date_hierarchy = "last_failed_at"
    fields = ("task_name", "queue", "event_count", "attempts", "first_failed_at", "last_failed_at", "replayed_at",
              "created_at", "reason", "traceback", "payload", "digest")
    readonly_fields = fields

    @admin.display(description="reason")
    def short_reason(self, letter: DeadLetter) -> str:
        return letter.reason if len(letter.reason) <= 100 else letter.reason[:99] + "…"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
