"""Writes of accounts: registration, profile edits, refresh-token rotation and logout.

Tokens are djangorestframework-simplejwt's: a refresh token is rotated on every use and the old
one blacklisted (``ROTATE_REFRESH_TOKENS`` + ``BLACKLIST_AFTER_ROTATION``); logging out
blacklists the given refresh token and, after commit, closes the user's open WebSockets.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from rest_framework import status
from rest_framework.exceptions import APIException, AuthenticationFailed, ValidationError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from bellamy.realtime.services import close_user_sockets

User = get_user_model()


class TokenNotOwned(APIException):
    """403: a user tried to log out with somebody else's refresh token."""

    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "This refresh token belongs to another user."
    default_code = "token_not_owned"


def username_taken(username: str) -> bool:
    """True when ``username`` exists, compared case-insensitively."""
    return User.objects.annotate(lower=Lower("username")).filter(lower=username.lower()).exists()


def email_taken(email: str) -> bool:
    """True when ``email`` is used by an account, compared case-insensitively."""
    return User.objects.filter(email__iexact=email).exists()


def user_register(*, username: str, email: str, password: str, display_name: str = "") -> User:
    """Create an active account.

    Args:
        username: already validated (3–30 characters of ``[A-Za-z0-9_]``); stored as given.
        email: already validated; its domain is lower-cased.
        password: already checked by Django's password validators; stored hashed.
        display_name: optional public name (≤ 100 characters).
    Returns:
        The new User.
    Raises:
        ValidationError: the username or e-mail was taken meanwhile (400
            ``{"username": [...]}`` / ``{"email": [...]}``; the unique constraints decide
            under concurrency).
    Publishes:
        nothing.
    """
    email = User.objects.normalize_email(email)
    user = User(username=username, email=email, display_name=display_name)
    # Hashing costs ~0.4 s of CPU: do it before the transaction, which on SQLite holds the
    # database's write lock from its first statement (BEGIN IMMEDIATE).
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        if username_taken(username):
            raise ValidationError({"username": ["This username is already taken."]}) from None
        raise ValidationError({"email": ["An account with this e-mail already exists."]}) from None
    return user


def user_update_profile(*, user: User, display_name: str | None = None, bio: str | None = None) -> User:
    """Change ``user``'s public profile; ``None`` leaves a field unchanged.

    Args:
        display_name: ≤ 100 characters (validated by the caller); ``""`` clears it.
        bio: ≤ 500 characters; ``""`` clears it.
    Returns:
        ``user``, saved.
    Publishes:
        nothing.
    """
    fields = []
    if display_name is not None:
        user.display_name = display_name
        fields.append("display_name")
    if bio is not None:
        user.bio = bio
        fields.append("bio")
    if fields:
        user.save(update_fields=fields)
    return user


def _parse_refresh(raw: str) -> RefreshToken:
    """Decode and verify ``raw`` (signature, expiry, type, blacklist). Raises TokenError."""
    return RefreshToken(raw)


def _lock_outstanding(token: RefreshToken) -> OutstandingToken:
    """Return the locked OutstandingToken row of ``token`` (created if missing)."""
    jti = token[jwt_settings.JTI_CLAIM]
    user_id = token.payload.get(jwt_settings.USER_ID_CLAIM)
    OutstandingToken.objects.get_or_create(
        jti=jti,
        defaults={
            "user": User.objects.filter(id=user_id).first(),
            "token": str(token),
            "created_at": token.current_time,
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    return OutstandingToken.objects.select_for_update().get(jti=jti)


def token_refresh(*, raw: str) -> dict[str, str]:
    """Exchange refresh token ``raw`` for a new access token and a new refresh token.

    The old refresh token is blacklisted in the same transaction, under a row lock, so two
    concurrent uses of one refresh token cannot both succeed.

    Returns:
        ``{"access": <jwt>, "refresh": <jwt>}``.
    Raises:
        TokenError: ``raw`` is garbage, expired, signed with another key, not a refresh token,
            or already blacklisted (the view answers 401).
        AuthenticationFailed: the user no longer exists or is inactive (401
            ``no_active_account``).
    """
    token = _parse_refresh(raw)
    with transaction.atomic():
        outstanding = _lock_outstanding(token)
        if BlacklistedToken.objects.filter(token=outstanding).exists():
            raise TokenError("Token is blacklisted")
        user_id = token.payload.get(jwt_settings.USER_ID_CLAIM)
        user = User.objects.filter(id=user_id).first()
        if user is None or not jwt_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed(
                "No active account found for the given token.", code="no_active_account"
            )
        BlacklistedToken.objects.create(token=outstanding)
        new = RefreshToken.for_user(user)
    return {"access": str(new.access_token), "refresh": str(new)}


def user_logout(*, user: User, raw_refresh: str) -> None:
    """Log ``user`` out: blacklist their refresh token ``raw_refresh`` and, after commit, close
    their open WebSockets (:func:`bellamy.realtime.services.close_user_sockets`).

    Access tokens already issued stay valid until they expire (``BELLAMY_ACCESS_TOKEN_MINUTES``).

    Raises:
        ValidationError: ``raw_refresh`` is garbage, expired, signed with another key, not a
            refresh token or already blacklisted (400 ``{"refresh": [...]}``).
        TokenNotOwned: the token belongs to another user (403, ``token_not_owned``).
    Publishes:
        nothing.
    """
    try:
        token = _parse_refresh(raw_refresh)
    except TokenError as exc:
        raise ValidationError({"refresh": [str(exc)]}) from None
    if str(token.payload.get(jwt_settings.USER_ID_CLAIM)) != str(user.id):
        raise TokenNotOwned()
    with transaction.atomic():
        outstanding = _lock_outstanding(token)
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        if not created:
            raise ValidationError({"refresh": ["Token is blacklisted"]})
        user_id = user.id
        transaction.on_commit(lambda: close_user_sockets(user_id))
