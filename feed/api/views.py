"""``GET /api/feed/``: the signed-in user's home feed."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from bellamy.accounts.api.serializers import ErrorSerializer
from bellamy.db_router import replica_reads
from feed import selectors
from feed.api.serializers import FeedPageSerializer, FeedQuerySerializer
from posts.api.serializers import PostSerializer, post_datetime


class FeedView(APIView):
    """Home feed: own and friends' visible posts, ``ranked`` (default) or ``recent``."""

    @extend_schema(
        tags=["feed"],
        operation_id="feed_list",
        parameters=[
            OpenApiParameter("order", enum=list(selectors.ORDERS), default="ranked"),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", int, description="1..100, default 20"),
        ],
        responses={
            200: FeedPageSerializer,
            400: OpenApiResponse(description="Bad order, limit or cursor; an expired ranked cursor has code cursor_expired."),
            401: OpenApiResponse(ErrorSerializer, description="Missing, invalid or expired token."),
        },
    )
    def get(self, request):
        query = FeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        with replica_reads(request.user):
            try:
                data, next_cursor = selectors.cached_feed_objects(
                    request.user, order=params["order"], cursor=params.get("cursor"), limit=params["limit"],
                    render=lambda posts: list(PostSerializer(posts, many=True).data), is_current=_is_current,
                )
            except selectors.InvalidCursor as exc:
                raise ValidationError({"cursor": [str(exc)]}, code=exc.code) from None
        return Response({"results": data, "next_cursor": next_cursor})


def _is_current(obj: dict, live: selectors.LiveFields) -> bool:
    """Whether a cached post object still holds the post's text: not edited since it was rendered."""
    return obj["edited_at"] == post_datetime(live.edited_at)
