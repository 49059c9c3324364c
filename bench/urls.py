"""URLs for benchmark runs: the product's URLs plus the baseline endpoint.

Served only when ``BELLAMY_ROOT_URLCONF=bench.urls`` (the benchmark harness sets it on its
own stack); never in production.
"""

from django.db import connection
from django.urls import path
from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from bellamy.urls import handler404, handler500, urlpatterns as product_urls  # noqa: F401

#: The baseline table: posts_post's shape, indexes and checks (LIKE copies no foreign keys).
BARE_TABLE_SQL = "CREATE TABLE IF NOT EXISTS bench_bare_post (LIKE posts_post INCLUDING ALL)"


class BarePostBody(serializers.Serializer):
    content = serializers.CharField(max_length=5000)
    visibility = serializers.ChoiceField(choices=["public", "friends", "private"], default="public")


class BarePostView(APIView):
    """Baseline for post creation: the same auth and validation, one INSERT, no events,
    no parsing, no counters — what a post costs with nothing of Bellamy Book around it."""

    def post(self, request):
        body = BarePostBody(data=request.data)
        body.is_valid(raise_exception=True)
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_bare_post (author_id, content, visibility, created_at, like_count,"
                " comment_count, moderation_state) VALUES (%s, %s, %s, %s, 0, 0, 'visible') RETURNING id",
                [request.user.pk, body.validated_data["content"], body.validated_data["visibility"], now],
            )
            row_id = cursor.fetchone()[0]
        return Response({"id": row_id, "content": body.validated_data["content"],
                         "visibility": body.validated_data["visibility"], "created_at": now},
                        status=status.HTTP_201_CREATED)


urlpatterns = [path("bench/bare-post", BarePostView.as_view()), *product_urls]
