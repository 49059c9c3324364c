"""``GET /api/friends/suggestions?limit=`` (API.md "Social graph"): friend suggestions.

Wired in ``graph/api/urls.py`` as ``path("friends/suggestions", SuggestionListView.as_view(),
name="friend-suggestions")``. Reads go through :mod:`graph.suggestions` (store ranking, cached
60 s per user version, refreshed by the graph worker after a friendship change; PostgreSQL
filtering on every request; exactly ``limit`` items when that many eligible candidates exist).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from bellamy.accounts.api.serializers import ErrorSerializer, UserSerializer
from bellamy.api.pagination import parse_limit
from graph.suggestions import DEFAULT_LIMIT, MAX_LIMIT, suggestions_for


class SuggestionSerializer(serializers.Serializer):
    """One suggestion: ``{user: user object, mutual_friends: int, score: float}``."""

    user = UserSerializer(read_only=True)
    mutual_friends = serializers.IntegerField(read_only=True)
    score = serializers.FloatField(read_only=True)


class SuggestionListView(APIView):
    """GET /api/friends/suggestions?limit=1..50 (default 10) → ``[{user, mutual_friends, score}]``,
    best first: friends of friends ranked by mutual friends and relationship weights, never a
    friend, a pending request either way, a block either way or an inactive user.

    400 ``{"limit": [...]}`` for a limit outside 1..50 or not an integer; 401 without a token.
    """

    @extend_schema(
        operation_id="friends_suggestions_list",
        parameters=[OpenApiParameter("limit", int, description="1..50, default 10")],
        responses={
            200: SuggestionSerializer(many=True),
            400: OpenApiResponse(description="Invalid limit: {limit: [message]}."),
            401: OpenApiResponse(ErrorSerializer),
        },
    )
    def get(self, request):
        limit = parse_limit(request.query_params.get("limit"), default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
        items = suggestions_for(request.user.id, limit=limit)
        return Response(SuggestionSerializer(items, many=True).data)
