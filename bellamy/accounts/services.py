"""Writes of accounts: registration, profile edits, login, refresh-token rotation, logout and
password change.

Tokens are djangorestframework-simplejwt's, grouped in token families (login sessions, see
:mod:`bellamy.accounts.tokens`): a refresh token is rotated on every use and the old one
blacklisted; reusing a rotated one, logging out (with any refresh token of the family) end
the family; a password change or a suspension end every family of the user. Each of these
closes the user's open WebSockets after commit.
"""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, AuthenticationFailed, ValidationError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch, get_md5_hash_password

from bellamy.accounts import tokens
from bellamy.accounts.models import TokenFamily
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


def _locked_family(token: RefreshToken) -> TokenFamily | None:
    """The locked family of ``token``; None for a token without a ``sid`` claim.

    Raises:
        TokenError: the token names a family that does not exist or is revoked.
    """
    sid = token.payload.get(tokens.SID_CLAIM)
    if sid is None:
        return None
    try:
        family = TokenFamily.objects.select_for_update().filter(pk=uuid.UUID(str(sid))).first()
    except ValueError:
        family = None
    if family is None or family.revoked_at is not None:
        raise TokenError("Token is blacklisted")
    return family


def token_pair_issue(*, user) -> RefreshToken:
    """Log ``user`` in (already authenticated): a new token family and its first refresh token.

    Returns:
        The refresh token; ``.access_token`` is the matching access token (same ``sid``).
    Publishes:
        nothing.
    """
    with transaction.atomic():
        return tokens.refresh_token_for(user=user, family=tokens.family_create(user=user))


def token_refresh(*, raw: str) -> dict[str, str]:
    """Exchange refresh token ``raw`` for a new access token and a new refresh token of the
    same family (rotation).

    The old refresh token is blacklisted in the same transaction, under a row lock, so two
    concurrent uses of one refresh token cannot both succeed. Presenting a refresh token that
    was already rotated means a copy of it is in other hands (or the client replays it): the
    whole family is revoked — the legitimate holder's newer tokens too — and the user's
    sockets are closed; the caller gets 401 like for any refused token.

    Returns:
        ``{"access": <jwt>, "refresh": <jwt>}``.
    Raises:
        TokenError: ``raw`` is garbage, expired, signed with another key, not a refresh token,
            already used (its family is revoked now) or of a revoked family (the view answers
            401 ``token_not_valid``).
        AuthenticationFailed: the user no longer exists or is inactive (401
            ``no_active_account``), or changed their password since (401 ``password_changed``).
    Publishes:
        nothing.
    """
    token = tokens.parse_refresh(raw)
    reused = False
    with transaction.atomic():
        outstanding = _lock_outstanding(token)
        family = _locked_family(token)
        if BlacklistedToken.objects.filter(token=outstanding).exists():
            if family is None:
                raise TokenError("Token is blacklisted")
            tokens.families_revoke([family.pk], reason=TokenFamily.Reason.REUSE)
            user_id = family.user_id
            transaction.on_commit(lambda: close_user_sockets(user_id), robust=True)
            reused = True
        else:
            user_id = token.payload.get(jwt_settings.USER_ID_CLAIM)
            user = User.objects.filter(id=user_id).first()
            if user is None or not jwt_settings.USER_AUTHENTICATION_RULE(user):
                raise AuthenticationFailed(
                    "No active account found for the given token.", code="no_active_account"
                )
            claimed_hash = token.payload.get(jwt_settings.REVOKE_TOKEN_CLAIM)
            if claimed_hash is not None and claimed_hash != get_md5_hash_password(user.password):
                raise AuthenticationFailed("The user's password has been changed.", code="password_changed")
            BlacklistedToken.objects.create(token=outstanding)
            # A token from before token families existed starts one here.
            new = tokens.refresh_token_for(user=user, family=family or tokens.family_create(user=user))
    if reused:
        raise TokenError("Token was already used; the session has ended")
    return {"access": str(new.access_token), "refresh": str(new)}


def user_logout(*, user: User, raw_refresh: str) -> None:
    """Log ``user`` out of one session: revoke the token family of ``raw_refresh`` (its current
    or any earlier, already-rotated refresh token) and, after commit, close the user's open
    WebSockets (:func:`bellamy.realtime.services.close_user_sockets`).

    From the commit on, every token of the family is refused: refresh tokens by the refresh
    endpoint, access tokens by every request and WebSocket handshake. The user's other
    sessions (other families) go on. A token without a family (issued before families
    existed) is blacklisted on its own.

    Raises:
        ValidationError: ``raw_refresh`` is garbage, expired, signed with another key, not a
            refresh token, or its session already ended (400 ``{"refresh": [...]}``).
        TokenNotOwned: the token belongs to another user (403, ``token_not_owned``).
    Publishes:
        nothing.
    """
    try:
        token = tokens.parse_refresh(raw_refresh)
    except TokenError as exc:
        raise ValidationError({"refresh": [str(exc)]}) from None
    if str(token.payload.get(jwt_settings.USER_ID_CLAIM)) != str(user.id):
        raise TokenNotOwned()
    with transaction.atomic():
        outstanding = _lock_outstanding(token)
        try:
            family = _locked_family(token)
        except TokenError as exc:
            raise ValidationError({"refresh": [str(exc)]}) from None
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        if family is not None:
            tokens.families_revoke([family.pk], reason=TokenFamily.Reason.LOGOUT)
        elif not created:
            raise ValidationError({"refresh": ["Token is blacklisted"]})
        user_id = user.id
        transaction.on_commit(lambda: close_user_sockets(user_id), robust=True)


def refresh_tokens_blacklist(*, user_id: int) -> int:
    """Blacklist every unexpired, not yet blacklisted refresh token of ``user_id``.

    Returns:
        How many tokens were blacklisted. Events: none.
    """
    outstanding = list(
        OutstandingToken.objects.filter(user_id=user_id, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
        .values_list("id", flat=True)
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=token_id) for token_id in outstanding], ignore_conflicts=True
    )
    return len(outstanding)


def user_tokens_revoke(*, user_id: int, reason: str) -> int:
    """End every session of ``user_id`` (call inside the writer's transaction): revoke all
    their token families and blacklist all their refresh tokens. The caller closes the user's
    sockets after commit.

    Args:
        reason: a :class:`TokenFamily.Reason` value (``password_change``, ``suspension``).
    Returns:
        How many families were revoked. Events: none.
    """
    refresh_tokens_blacklist(user_id=user_id)
    live = TokenFamily.objects.filter(user_id=user_id, revoked_at__isnull=True).values_list("pk", flat=True)
    return len(tokens.families_revoke(live, reason=reason))


def user_password_change(*, user: User, new_password: str) -> None:
    """Set ``user``'s password and end every session of theirs.

    Every token family is revoked and every refresh token blacklisted; every access token
    issued before carries the old password's hash and is refused from the commit on (also on
    ``/ws/``); the user's open sockets are closed after commit. The client logs in again with
    the new password (a login in the same second works: nothing compares timestamps).

    Args:
        user: the caller, whose current password the API has checked.
        new_password: already checked by Django's password validators.
    Publishes:
        nothing.
    """
    # Hashing costs ~0.4 s of CPU: before the transaction (SQLite holds its write lock).
    hashed = make_password(new_password)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(password=hashed)
        user_tokens_revoke(user_id=user.pk, reason=TokenFamily.Reason.PASSWORD_CHANGE)
        user_id = user.pk
        transaction.on_commit(lambda: close_user_sockets(user_id), robust=True)
    user.password = hashed
