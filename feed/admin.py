"""Admin of the ``feed`` domain: content scores, read-only (the scoring worker writes them)."""

from django.contrib import admin

from feed.models import ContentScore


@admin.register(ContentScore)
class ContentScoreAdmin(admin.ModelAdmin):
    """Scores with their components; read-only, recomputed by the worker and the backfill."""

    list_display = ("post", "score", "likes", "comments", "distinct_engagers", "age_hours", "computed_at")
    list_select_related = ("post",)
    ordering = ("-score",)
    readonly_fields = (
        "post",
        "score",
        "likes",
        "comments",
        "commenters",
        "distinct_engagers",
        "age_hours",
        "computed_at",
    )
    search_fields = ("post__id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
