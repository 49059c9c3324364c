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

from bellamy.accounts import lifecycle, services
from bellamy.accounts.api.serializers import (
    DeletionScheduledSerializer,
    ErrorSerializer,
    LoginSerializer,
    MeSerializer,
    PasswordChangeSerializer,
    PasswordConfirmSerializer,
    ProfileUpdateSerializer,
    ReactivateSerializer,
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


# --- account lifecycle (README "Account lifecycle") -------------------------------------------


class DeactivateView(APIView):
    """POST /api/users/me/deactivate {password} → 204: the account and everything it wrote
    disappear for everybody else, the caller's sessions end and their sockets close. Reversible
    with ``POST /api/auth/reactivate``. 400 when the password is missing or wrong; 401 without a
    valid access token."""

    @extend_schema(
        request=PasswordConfirmSerializer,
        responses={204: None, 400: OpenApiResponse(description="Missing or wrong password."), 401: ERROR},
    )
    def post(self, request):
        serializer = PasswordConfirmSerializer(data=request.data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        lifecycle.account_deactivate(user=request.user, cause=lifecycle.CAUSE_SELF)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeletionView(APIView):
    """POST /api/users/me/deletion {password} → 202 ``{deletion_due_at}``: the account is
    deactivated at once and erased everywhere at ``deletion_due_at`` (after the operator's
    grace period, ``BELLAMY_ACCOUNT_DELETION_GRACE_DAYS``) unless the owner reactivates it
    before with ``POST /api/auth/reactivate``. 400 when the password is missing or wrong; 401
    without a valid access token."""

    @extend_schema(
        request=PasswordConfirmSerializer,
        responses={202: DeletionScheduledSerializer, 400: OpenApiResponse(description="Missing or wrong password."),
                   401: ERROR},
    )
    def post(self, request):
        serializer = PasswordConfirmSerializer(data=request.data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        due = lifecycle.account_deletion_request(user=request.user)
        return Response(DeletionScheduledSerializer({"deletion_due_at": due}).data, status=status.HTTP_202_ACCEPTED)


class ReactivateView(APIView):
    """POST /api/auth/reactivate {username, password} → 200 {access, refresh}: a deactivated
    account (or one awaiting deletion, whose deletion is cancelled) is active again and a new
    session starts. 400 bad body; 401 ``invalid_credentials`` (unknown user, wrong password,
    erased account); 403 ``account_suspended``; 409 ``not_deactivated`` (the account is active:
    log in instead); 429 throttled (scope ``token``)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "token"

    @extend_schema(
        request=ReactivateSerializer,
        responses={200: TokenPairSerializer, 400: OpenApiResponse(description="Bad body."), 401: ERROR, 403: ERROR,
                   409: ERROR, 429: ERROR},
        auth=[],
    )
    def post(self, request):
        serializer = ReactivateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = lifecycle.account_reactivate_with_password(**serializer.validated_data)
        return Response({"access": result.access, "refresh": result.refresh})

    def get_authenticate_header(self, request):
        # Without authenticators DRF would turn 401 into 403; wrong credentials are a 401.
        return 'Bearer realm="api"'
