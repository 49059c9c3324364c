"""Notifications API (API.md "Feed, trends, notifications"): the caller's notifications,
marking them read, the unread count. Views validate and call selectors / services."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from bellamy.accounts.api.serializers import ErrorSerializer
from bellamy.api.pagination import MAX_LIMIT, parse_limit
from notifications import selectors, services
from notifications.api.serializers import (
    MarkReadResultSerializer,
    MarkReadSerializer,
    NotificationListQuerySerializer,
    NotificationPageSerializer,
    UnreadCountSerializer,
)
from notifications.stores.base import InvalidCursor

ERROR = OpenApiResponse(ErrorSerializer)
INVALID = OpenApiResponse(description="Invalid input (DRF's {field: [messages]}).")


class NotificationListView(APIView):
    """GET /api/notifications/?unread=true|false&cursor=&limit= → ``{results, next_cursor,
    unread_count}``, newest first (a grouped notification moves up when it gets a new actor).
    ``unread`` other than true/false, ``limit`` outside 1..100 and a bad cursor are 400.
    Notifications whose every actor went inactive (deactivated, suspended, erased) are left
    out, so a page may hold fewer than ``limit``; ``unread_count`` counts what is stored."""

    @extend_schema(
        parameters=[
            OpenApiParameter("unread", str, enum=["true", "false"], default="false"),
            OpenApiParameter("cursor", str, description="Opaque cursor from the previous page's next_cursor."),
            OpenApiParameter("limit", int, description=f"1..{MAX_LIMIT}, default 20."),
        ],
        responses={200: NotificationPageSerializer, 400: INVALID, 401: ERROR},
    )
    def get(self, request):
        query = NotificationListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = parse_limit(request.query_params.get("limit"))
        cursor = request.query_params.get("cursor") or None
        try:
            records, next_cursor = selectors.notifications_page(
                user_id=request.user.pk,
                cursor=cursor,
                limit=limit,
                unread_only=query.validated_data["unread"] == "true",
            )
        except InvalidCursor:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        return Response(
            {
                "results": selectors.notification_objects(records, viewer_id=request.user.pk, hide_gone=True),
                "next_cursor": next_cursor,
                "unread_count": selectors.unread_count(user_id=request.user.pk),
            }
        )


class NotificationReadView(APIView):
    """POST /api/notifications/read ``{ids: [..]}`` or ``{all: true}`` → ``{updated: n}``.
    Ids of other users' notifications (or unknown ids) are ignored, never marked."""

    @extend_schema(
        request=MarkReadSerializer,
        responses={200: MarkReadResultSerializer, 400: INVALID, 401: ERROR},
    )
    def post(self, request):
        body = MarkReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        updated = services.notification_mark_read(
            user_id=request.user.pk, ids=data.get("ids"), all=data.get("all", False)
        )
        return Response({"updated": updated})


class UnreadCountView(APIView):
    """GET /api/notifications/unread-count → ``{unread_count}``."""

    @extend_schema(responses={200: UnreadCountSerializer, 401: ERROR})
    def get(self, request):
        return Response({"unread_count": selectors.unread_count(user_id=request.user.pk)})
