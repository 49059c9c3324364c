"""``GET /api/users/{id}`` and ``GET /api/users/?search=`` (API.md "Accounts"): users as the
caller sees them.

They live in the graph app, not in ``bellamy.accounts``, because what they show depends on the
caller's relationship to each user — ``friends_count``, ``friendship_status`` and blocks, which
hide both ways — and those are graph facts (:mod:`graph.selectors`). The rest of the accounts
API (registration, tokens, ``/api/users/me``) stays in :mod:`bellamy.accounts.api`; the user
object and the username pagination are shared from there.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from bellamy.accounts.api.serializers import ErrorSerializer, UserSerializer
from bellamy.accounts.api.views import UsernameCursorPagination
from graph import selectors

ERROR = OpenApiResponse(ErrorSerializer)


class ProfileSerializer(UserSerializer):
    """GET ``/api/users/{id}``: the user object plus ``friends_count`` and the viewer's
    ``friendship_status`` (built from :class:`graph.selectors.Profile`)."""

    friends_count = serializers.IntegerField(read_only=True)
    friendship_status = serializers.ChoiceField(
        choices=["self", "friends", "request_sent", "request_received", "none", "blocked"],
        read_only=True,
    )

    class Meta(UserSerializer.Meta):
        fields = ("id", "username", "display_name", "bio", "friends_count", "friendship_status")
        read_only_fields = fields

    def to_representation(self, profile):
        data = super().to_representation(profile.user)
        data["friends_count"] = profile.friends_count
        data["friendship_status"] = profile.friendship_status
        return data


class UserSearchQuerySerializer(serializers.Serializer):
    """``?search=<prefix>``: 1–50 characters, required."""

    search = serializers.CharField(max_length=selectors.SEARCH_MAX_LENGTH, min_length=1, trim_whitespace=True)


class UserDetailView(APIView):
    """GET /api/users/{id} → ``{id, username, display_name, bio, friends_count,
    friendship_status}``.

    404 for unknown or inactive users **and for users who blocked the caller** (blocks hide both
    ways). A user the caller blocked is shown with ``friendship_status: "blocked"`` so the caller
    can find them and unblock.
    """

    @extend_schema(responses={200: ProfileSerializer, 401: ERROR, 404: ERROR})
    def get(self, request, pk: int):
        profile = selectors.user_profile(viewer_id=request.user.id, user_id=pk)
        if profile is None:
            raise NotFound("No such user.", code="user_not_found")
        return Response(ProfileSerializer(profile).data)


class UserSearchView(generics.ListAPIView):
    """GET /api/users/?search=<prefix> → users whose username or display name starts with the
    prefix (case-insensitive), in username order, cursor-paginated. Inactive users and users
    blocked either way are left out. 400 when ``search`` is missing, blank or over 50
    characters."""

    serializer_class = UserSerializer
    pagination_class = UsernameCursorPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, required=True, description="Prefix, 1–50 characters."),
        ],
        responses={200: UserSerializer(many=True), 400: OpenApiResponse(description="Bad query."), 401: ERROR},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = UserSearchQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.user_search(viewer_id=self.request.user.id, prefix=query.validated_data["search"])
