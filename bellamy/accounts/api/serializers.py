"""Serializers of the accounts API (API.md "Accounts").

:class:`UserSerializer` is *the* public user object ``{id, username, display_name, bio,
date_joined}`` that every other API embeds; e-mail appears only in :class:`MeSerializer`.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from bellamy.accounts import services

User = get_user_model()

USERNAME_RE = re.compile(r"[A-Za-z0-9_]{3,30}")


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of converting them to text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UserSerializer(serializers.ModelSerializer):
    """The public user object: ``{id, username, display_name, bio, date_joined}``."""

    class Meta:
        model = User
        fields = ("id", "username", "display_name", "bio", "date_joined")
        read_only_fields = fields


class MeSerializer(serializers.ModelSerializer):
    """The caller's own profile: the user object plus ``email``."""

    class Meta:
        model = User
        fields = ("id", "username", "email", "display_name", "bio", "date_joined")
        read_only_fields = fields


class ProfileUpdateSerializer(serializers.Serializer):
    """PATCH ``/api/users/me``: ``{display_name?, bio?}``; other keys are ignored."""

    display_name = StrictCharField(max_length=100, allow_blank=True, required=False)
    bio = StrictCharField(max_length=500, allow_blank=True, required=False)


class RegisterSerializer(serializers.Serializer):
    """POST ``/api/auth/register``: ``{username, email, password, display_name?}``.

    ``username``: 3–30 characters of ``[A-Za-z0-9_]``, free case-insensitively. ``email``:
    valid, free case-insensitively. ``password``: passes Django's password validators
    (``AUTH_PASSWORD_VALIDATORS``, checked against the other fields).
    """

    username = serializers.RegexField(
        r"^[A-Za-z0-9_]{3,30}$",
        max_length=30,
        min_length=3,
        trim_whitespace=False,
        error_messages={"invalid": "Use 3 to 30 letters, digits or underscores."},
    )
    email = serializers.EmailField(max_length=254)
    password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False)
    display_name = StrictCharField(max_length=100, allow_blank=True, required=False, default="")

    def to_internal_value(self, data):
        if isinstance(data, dict):
            for name in ("username", "email"):
                if name in data and not isinstance(data[name], str):
                    raise serializers.ValidationError({name: ["Not a valid string."]})
        return super().to_internal_value(data)

    def validate_username(self, value: str) -> str:
        if not USERNAME_RE.fullmatch(value):  # ``$`` in the field's pattern accepts a final newline
            raise serializers.ValidationError("Use 3 to 30 letters, digits or underscores.")
        if services.username_taken(value):
            raise serializers.ValidationError("This username is already taken.")
        return value

    def validate_email(self, value: str) -> str:
        if services.email_taken(value):
            raise serializers.ValidationError("An account with this e-mail already exists.")
        return value

    def validate(self, attrs):
        candidate = User(
            username=attrs["username"], email=attrs["email"], display_name=attrs.get("display_name", "")
        )
        try:
            validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class LoginSerializer(TokenObtainPairSerializer):
    """POST ``/api/auth/token`` ``{username, password}`` → ``{access, refresh}`` of a new token
    family (login session), see :func:`bellamy.accounts.services.token_pair_issue`."""

    @classmethod
    def get_token(cls, user):
        return services.token_pair_issue(user=user)


class PasswordChangeSerializer(serializers.Serializer):
    """POST ``/api/auth/password``: ``{current_password, new_password}``.

    ``current_password`` must be the caller's password; ``new_password`` must differ from it
    and pass Django's password validators (``AUTH_PASSWORD_VALIDATORS``, checked against the
    caller's username, e-mail and display name). Needs ``context={"user": caller}``.
    """

    current_password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False)
    new_password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False)

    def validate_current_password(self, value: str) -> str:
        if not self.context["user"].check_password(value):
            raise serializers.ValidationError("Wrong password.")
        return value

    def validate(self, attrs):
        if attrs["new_password"] == attrs["current_password"]:
            raise serializers.ValidationError({"new_password": ["Choose a password different from the current one."]})
        try:
            validate_password(attrs["new_password"], user=self.context["user"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"new_password": list(exc.messages)}) from None
        return attrs


class RefreshSerializer(serializers.Serializer):
    """``{refresh}``: a refresh JWT (token refresh and logout)."""

    refresh = StrictCharField(max_length=4096, trim_whitespace=False)


class TokenPairSerializer(serializers.Serializer):
    """``{access, refresh}``: a new JWT pair."""

    access = serializers.CharField()
    refresh = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """Schema only: the API's error body ``{"detail", "code"}``."""

    detail = serializers.CharField()
    code = serializers.CharField()


class PasswordConfirmSerializer(serializers.Serializer):
    """``{password}``: the caller's current password, confirming a destructive action
    (deactivation, deletion). The view passes the user as ``context["user"]``."""

    password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False)

    def validate_password(self, value: str) -> str:
        if not self.context["user"].check_password(value):
            raise serializers.ValidationError("Wrong password.")
        return value


class ReactivateSerializer(serializers.Serializer):
    """POST ``/api/auth/reactivate``: ``{username, password}`` of a deactivated account."""

    username = StrictCharField(max_length=150, trim_whitespace=False)
    password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False)


class DeletionScheduledSerializer(serializers.Serializer):
    """``{deletion_due_at}``: when the account will be erased unless reactivated before."""

    deletion_due_at = serializers.DateTimeField()
