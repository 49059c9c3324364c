"""Social-graph API (API.md "Social graph"): friend requests, friends, blocks.

Views validate input and call :mod:`graph.services` (writes, which raise the API's 400 / 403 /
404 / 409 errors) and :mod:`graph.selectors` (reads). Every list is cursor-paginated.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from bellamy.accounts.api.serializers import ErrorSerializer, UserSerializer
from bellamy.accounts.api.views import UsernameCursorPagination
from graph import selectors, services
from graph.api.serializers import (
    AcceptanceSerializer,
    BlockCreateSerializer,
    BlockListItemSerializer,
    BlockSerializer,
    FriendRequestCreateSerializer,
    FriendRequestListQuerySerializer,
    FriendRequestSerializer,
)

ERROR = OpenApiResponse(ErrorSerializer)
INVALID = OpenApiResponse(description="Invalid input (DRF's {field: [messages]} or {detail, code}).")


class FriendRequestListCreateView(generics.ListAPIView):
    """GET /api/friends/requests?direction=incoming|outgoing → the caller's pending requests,
    newest first (``direction`` defaults to ``incoming``; any other value is 400).

    POST /api/friends/requests {to_user_id} → 201 request; 400 self or bad body; 404 unknown,
    inactive or blocked either way; 409 already friends or a request pending either way.
    """

    serializer_class = FriendRequestSerializer

    @extend_schema(
        parameters=[OpenApiParameter("direction", str, enum=["incoming", "outgoing"], default="incoming")],
        responses={200: FriendRequestSerializer(many=True), 400: INVALID, 401: ERROR},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = FriendRequestListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.pending_requests(self.request.user.id, direction=query.validated_data["direction"])

    @extend_schema(
        request=FriendRequestCreateSerializer,
        responses={201: FriendRequestSerializer, 400: INVALID, 401: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request):
        body = FriendRequestCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        friend_request = services.friend_request_send(
            from_user=request.user, to_user_id=body.validated_data["to_user_id"]
        )
        return Response(FriendRequestSerializer(friend_request).data, status=status.HTTP_201_CREATED)


class FriendRequestAcceptView(APIView):
    """POST /api/friends/requests/{id}/accept → 200 {friend: user, since}. Recipient only:
    the sender gets 403, anyone else 404; a request no longer pending is 409."""

    @extend_schema(request=None, responses={200: AcceptanceSerializer, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR})
    def post(self, request, pk: int):
        acceptance = services.friend_request_accept(user=request.user, request_id=pk)
        return Response(AcceptanceSerializer(acceptance).data)


class FriendRequestDeclineView(APIView):
    """POST /api/friends/requests/{id}/decline → 204. Recipient only: the sender gets 403,
    anyone else 404; a request no longer pending is 409."""

    @extend_schema(request=None, responses={204: None, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR})
    def post(self, request, pk: int):
        services.friend_request_decline(user=request.user, request_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FriendRequestDetailView(APIView):
    """DELETE /api/friends/requests/{id} → 204: the sender cancels. The recipient gets 403,
    anyone else 404; a request no longer pending is 409."""

    @extend_schema(responses={204: None, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR})
    def delete(self, request, pk: int):
        services.friend_request_cancel(user=request.user, request_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FriendListView(generics.ListAPIView):
    """GET /api/friends/ → the caller's active friends (user objects) in username order."""

    serializer_class = UserSerializer
    pagination_class = UsernameCursorPagination

    @extend_schema(responses={200: UserSerializer(many=True), 400: INVALID, 401: ERROR})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.friends_of(self.request.user.id)


class UserFriendListView(generics.ListAPIView):
    """GET /api/users/{id}/friends → that user's active friends in username order, minus users
    blocked either way with the caller. 404 when the user is unknown, inactive, or blocked
    either way with the caller."""

    serializer_class = UserSerializer
    pagination_class = UsernameCursorPagination

    @extend_schema(responses={200: UserSerializer(many=True), 400: INVALID, 401: ERROR, 404: ERROR})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        user_id = self.kwargs["pk"]
        viewer_id = self.request.user.id
        exists = get_user_model().objects.filter(id=user_id, is_active=True).exists()
        if not exists or selectors.is_blocked_either_way(viewer_id, user_id):
            raise NotFound("No such user.", code="user_not_found")
        return selectors.friends_of(user_id, viewer_id=viewer_id)


class FriendDetailView(APIView):
    """DELETE /api/friends/{user_id} → 204 unfriend; 404 when not friends."""

    @extend_schema(responses={204: None, 401: ERROR, 404: ERROR})
    def delete(self, request, user_id: int):
        services.friendship_remove(user=request.user, friend_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BlockListCreateView(generics.ListAPIView):
    """GET /api/blocks → the users the caller blocked, newest block first:
    ``[{user_id, user, created_at}]``.

    POST /api/blocks {user_id} → 201 {user_id, created_at}; removes the friendship and pending
    requests both ways. 400 self or bad body; 404 unknown user; 409 already blocked.
    """

    serializer_class = BlockListItemSerializer

    @extend_schema(responses={200: BlockListItemSerializer(many=True), 400: INVALID, 401: ERROR})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.blocks_made(self.request.user.id)

    @extend_schema(
        request=BlockCreateSerializer,
        responses={201: BlockSerializer, 400: INVALID, 401: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request):
        body = BlockCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        block = services.block_create(blocker=request.user, blocked_id=body.validated_data["user_id"])
        return Response(BlockSerializer(block).data, status=status.HTTP_201_CREATED)


class BlockDetailView(APIView):
    """DELETE /api/blocks/{user_id} → 204 unblock; 404 when the caller has no such block."""

    @extend_schema(responses={204: None, 401: ERROR, 404: ERROR})
    def delete(self, request, user_id: int):
        services.block_remove(blocker=request.user, blocked_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
