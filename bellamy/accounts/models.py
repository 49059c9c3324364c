"""The custom user of Bellamy Book (set before the first migration, as Django advises), and
the token families (login sessions) of its JWTs."""

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class User(AbstractUser):
    """A person with an account.

    ``username`` is unique case-insensitively (``Alice`` and ``alice`` cannot both exist);
    ``display_name`` and ``bio`` are the public profile. A suspended user is ``is_active=False``:
    they can neither log in nor use tokens issued before the suspension.
    """

    display_name = models.CharField(max_length=100, blank=True)
    bio = models.TextField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            # One account per e-mail address, case-insensitively (blank e-mails are exempt).
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="accounts_user_email_ci_unique"
            ),
        ]
        indexes = [
            # Prefix search on username / display name (``LIKE 'abc%'`` on the lower-cased value).
            models.Index(Lower("username"), name="accounts_user_username_lower"),
            models.Index(Lower("display_name"), name="accounts_user_display_lower"),
        ]

    def __str__(self) -> str:
        return self.username


class TokenFamily(models.Model):
    """One login session of the API: the refresh token issued at login, every refresh token
    rotated from it, and the access tokens issued alongside all carry this row's id as their
    ``sid`` claim (:mod:`bellamy.accounts.tokens`).

    Revoking the family (``revoked_at`` set) ends all of them at once: refresh tokens are
    refused by ``POST /api/auth/token/refresh`` and access tokens by every request and
    WebSocket handshake. A family is revoked by a logout (with any of its refresh tokens), by
    the reuse of an already-rotated refresh token (a stolen copy), by a password change and by
    a suspension (every family of the user).
    """

    class Reason(models.TextChoices):
        LOGOUT = "logout"
        REUSE = "reuse", "reuse of a rotated refresh token"
        PASSWORD_CHANGE = "password_change", "password change"
        SUSPENSION = "suspension"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_families")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)

    class Meta:
        verbose_name_plural = "token families"

    def __str__(self) -> str:
        return f"{self.user_id}/{self.pk}"
