"""Views of the trends API (API.md): thin — validate the query, call one selector, serialize.

- ``GET /api/trends/?window=1h|24h|7d&limit=1..100`` → a JSON list of the stored trends
  (computed by the trending worker; eventually consistent).
- ``GET /api/trends/hashtags/{tag}/posts`` → cursor-paginated posts visible to the caller
  that use ``tag`` (case-insensitive, Unicode-normalised like posts' parser), newest first.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from bellamy.accounts.api.serializers import ErrorSerializer
from bellamy.api.pagination import CursorPagination
from posts.api.serializers import PostSerializer
from posts.selectors import attach_post_links
from trends import selectors
from trends.api.serializers import TrendQuerySerializer, TrendSerializer

UNAUTHORIZED = {401: OpenApiResponse(ErrorSerializer, description="Missing, invalid or expired token.")}


@extend_schema(tags=["trends"])
class TrendListView(GenericAPIView):
    """``GET /api/trends/``: the trending hashtags of a window, best first."""

    serializer_class = TrendSerializer
    pagination_class = None

    @extend_schema(
        operation_id="trends_list",
        summary="Trending hashtags of a window, best first (a plain list)",
        parameters=[
            TrendQuerySerializer,
            # An empty value means the default (DRF's reading of optional query fields).
            OpenApiParameter("window", str, enum=["1h", "24h", "7d", ""], default="24h",
                             description="Time window; absent or empty means 24h."),
        ],
        responses={
            200: TrendSerializer(many=True),
            400: OpenApiResponse(description="Unknown window or limit outside 1..100: {field: [messages]}."),
            **UNAUTHORIZED,
        },
    )
    def get(self, request):
        query = TrendQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        trends = selectors.global_trends(**query.validated_data)
        return Response(TrendSerializer(trends, many=True).data)


class HashtagPostsPagination(CursorPagination):
    """Newest first by the hashtag link's copy of the post's time (its index)."""

    ordering = selectors.HASHTAG_POSTS_ORDERING


@extend_schema(tags=["trends"])
class HashtagPostsView(GenericAPIView):
    """``GET /api/trends/hashtags/{tag}/posts``: visible posts using a hashtag, newest first."""

    serializer_class = PostSerializer
    pagination_class = HashtagPostsPagination

    @extend_schema(
        operation_id="trends_hashtag_posts",
        summary="Posts visible to the caller that use a hashtag, newest first",
        parameters=[
            OpenApiParameter(
                "tag", str, OpenApiParameter.PATH,
                description="Hashtag, with or without a leading # (URL-encoded); case-insensitive.",
            )
        ],
        responses={
            200: PostSerializer(many=True),
            400: OpenApiResponse(description="Not a valid hashtag, or bad cursor/limit: {field: [messages]}."),
            **UNAUTHORIZED,
        },
    )
    def get(self, request, tag: str):
        name = selectors.parse_tag(tag)
        if name is None:
            raise ValidationError({"tag": ["Not a valid hashtag: it needs at least one letter."]})
        page = attach_post_links(self.paginate_queryset(selectors.hashtag_posts(request.user, name)))
        return self.get_paginated_response(PostSerializer(page, many=True).data)
