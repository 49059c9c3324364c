"""Accounts API (API.md "Accounts"): registration, JWT login / refresh / logout, the caller's own
profile. Views validate input and call :mod:`bellamy.accounts.services`. Other users' profiles
and user search depend on the caller's relationships (friends, blocks): they are served by
:mod:`graph.api.users`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.views import TokenObtainPairView

from bellamy.accounts import services
from bellamy.accounts.api.serializers import (
    ErrorSerializer,
    LoginSerializer,
    MeSerializer,
    PasswordChangeSerializer,
    ProfileUpdateSerializer,
    RefreshSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from bellamy.api.pagination import CursorPagination

ERROR = OpenApiResponse(ErrorSerializer)


class UsernameCursorPagination(CursorPagination):
    """Users in username order (usernames never change, so the cursor position is stable)."""

    ordering = ("username",)


class RegisterView(APIView):
    """POST /api/auth/register → 201 user object; 400 invalid or taken; 429 throttled
    (scope ``register``)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "register"

    @extend_schema(
        request=RegisterSerializer,
        responses={201: UserSerializer, 400: OpenApiResponse(description="Invalid or taken."), 429: ERROR},
        auth=[],
    )
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(TokenObtainPairView):
    """POST /api/auth/token {username, password} → 200 {access, refresh} of a new login session
    (token family); 401 bad credentials or inactive account; 400 missing fields; 429 throttled
    (scope ``token``)."""

    serializer_class = LoginSerializer
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "token"

    @extend_schema(
        responses={200: TokenPairSerializer, 400: OpenApiResponse(description="Missing fields."), 401: ERROR, 429: ERROR},
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class TokenRefreshView(APIView):
    """POST /api/auth/token/refresh {refresh} → 200 {access, refresh}: the refresh token is
    rotated and the old one blacklisted. 401 for a garbage, expired, foreign-key-signed or
    logged-out token, an inactive account or a changed password; a refresh token that was
    already rotated is 401 too and ends its whole session (a stolen copy is being replayed);
    429 throttled (scope ``token``)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "token"

    @extend_schema(
        request=RefreshSerializer,
        responses={200: TokenPairSerializer, 400: OpenApiResponse(description="Missing refresh."), 401: ERROR, 429: ERROR},
        auth=[],
    )
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            tokens = services.token_refresh(raw=serializer.validated_data["refresh"])
        except TokenError as exc:
            raise AuthenticationFailed(str(exc), code="token_not_valid") from None
        return Response(tokens)

    def get_authenticate_header(self, request):
        # Without authenticators DRF would turn 401 into 403; a bad refresh token is a 401.
        return 'Bearer realm="api"'


class LogoutView(APIView):
    """POST /api/auth/logout {refresh} → 204: the session of that refresh token (the current one
    or an earlier, already-rotated one) ends — every refresh and access token of it is refused
    from now on, on REST and on ``/ws/`` — and the caller's open sockets are closed. 400 when
    ``refresh`` is missing, garbage, expired or its session already ended (the client is logged
    out either way); 403 when it belongs to another user; 401 without a valid access token."""

    @extend_schema(
        request=RefreshSerializer,
        responses={204: None, 400: OpenApiResponse(description="Invalid refresh token."), 401: ERROR, 403: ERROR},
    )
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_logout(user=request.user, raw_refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    """POST /api/auth/password {current_password, new_password} → 204: the password is changed
    and every session of the caller ends (every refresh and access token issued before is
    refused, on REST and on ``/ws/``; open sockets are closed); the client logs in again.
    400 wrong current password, new password refused by the validators or equal to the
    current one (``{field: [messages]}``); 401 without a valid access token; 429 throttled
    (scope ``password``, per user)."""

    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "password"

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={
            204: None,
            400: OpenApiResponse(description="Wrong current password or unacceptable new password: {field: [messages]}."),
            401: ERROR,
            429: ERROR,
        },
    )
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        services.user_password_change(user=request.user, new_password=serializer.validated_data["new_password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """GET /api/users/me → own profile (with e-mail). PATCH {display_name?, bio?} → 200 the
    updated profile; unknown keys are ignored, wrong types and over-long values are 400."""

    @extend_schema(responses={200: MeSerializer, 401: ERROR})
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=ProfileUpdateSerializer, responses={200: MeSerializer, 400: OpenApiResponse(description="Invalid."), 401: ERROR})
    def patch(self, request):
        serializer = ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, **serializer.validated_data)
        return Response(MeSerializer(user).data)
