"""``GET /api/analytics/daily?since=YYYY-MM-DD&until=YYYY-MM-DD`` (staff only): the stored
daily statistics of the range, oldest first, as a plain JSON list (bounded by the 366-day
range limit, so not paginated). Days not rolled up yet are absent (eventually consistent)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from analytics import selectors
from analytics.api.serializers import DailyQuerySerializer, DailyStatsSerializer
from bellamy.accounts.api.serializers import ErrorSerializer


@extend_schema(tags=["analytics"])
class DailyStatsView(GenericAPIView):
    """Staff only: 401 without a valid token, 403 for a non-staff user."""

    serializer_class = DailyStatsSerializer
    permission_classes = (IsAdminUser,)
    pagination_class = None

    @extend_schema(
        operation_id="analytics_daily",
        summary="Daily statistics of a date range, oldest first (staff only; a plain list)",
        parameters=[DailyQuerySerializer],
        responses={
            200: DailyStatsSerializer(many=True),
            400: OpenApiResponse(description="Malformed date, since after until, or over 366 days: {field: [messages]}."),
            401: OpenApiResponse(ErrorSerializer, description="Missing, invalid or expired token."),
            403: OpenApiResponse(ErrorSerializer, description="Not a staff user."),
        },
    )
    def get(self, request):
        query = DailyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.daily_stats(**query.validated_data)
        return Response(DailyStatsSerializer(rows, many=True).data)
