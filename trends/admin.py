"""Admin of the ``trends`` domain: read-only views of trends and hashtag buckets."""

from django.contrib import admin

from trends.models import GlobalTrend, HashtagBucket


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the trending worker and ``manage.py trends_recompute``."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GlobalTrend)
class GlobalTrendAdmin(ReadOnlyAdmin):
    list_display = ("window", "rank", "hashtag", "score", "unique_authors", "post_count", "as_of", "computed_at")
    list_filter = ("window",)
    list_select_related = ("hashtag",)
    ordering = ("window", "rank")


@admin.register(HashtagBucket)
class HashtagBucketAdmin(ReadOnlyAdmin):
    list_display = ("hashtag", "bucket_start", "uses", "authors")
    list_select_related = ("hashtag",)
    ordering = ("-bucket_start", "-authors")
    search_fields = ("hashtag__name",)
    date_hierarchy = "bucket_start"
