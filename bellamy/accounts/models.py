"""The custom user of Bellamy Book (set before the first migration, as Django advises), the
token families (login sessions) of its JWTs, and the tombstones of erased accounts.

Account states (README "Account lifecycle"). ``is_active`` is the one switch every read path
and every authentication checks; the reasons it is off are kept apart, so that each is lifted
by whoever set it:

- ``suspended_at`` — a moderator suspended the account (``moderation.services.user_suspend``);
- ``deactivated_at`` — the user (or a moderator, on their behalf) deactivated it; the user
  reactivates it with their password (``POST /api/auth/reactivate``);
- ``deletion_due_at`` — the user asked for deletion: the account is deactivated at once and
  erased at that time unless reactivated before (the operator's grace period);
- ``erased_at`` — the erasure ran: the row is an anonymised husk until every store's handler of
  ``user.deleted`` has finished, then it is deleted (:class:`AccountErasure` stays).

``is_active`` is true exactly when the account is neither suspended, deactivated nor erased
(:func:`bellamy.accounts.services.account_access_sync`).
"""

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class User(AbstractUser):
    """A person with an account.

    ``username`` is unique case-insensitively (``Alice`` and ``alice`` cannot both exist);
    ``display_name`` and ``bio`` are the public profile. An inactive user (suspended,
    deactivated, awaiting deletion or erased: module docstring) can neither log in nor use
    tokens issued before, and neither they nor their content appear to anybody else.
    """

    display_name = models.CharField(max_length=100, blank=True)
    bio = models.TextField(max_length=500, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True, help_text="When a moderator suspended the account.")
    deactivated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the account was deactivated (by its owner or a moderator)."
    )
    deletion_due_at = models.DateTimeField(
        null=True, blank=True, help_text="Deletion requested: the account is erased at this time unless reactivated."
    )
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="Erased: an anonymised husk until every store has forgotten the user."
    )

    class Meta:
        permissions = [
            ("deactivate_user", "Can deactivate and reactivate user accounts"),
            ("erase_user", "Can delete user accounts for good (erasure)"),
        ]
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
            # The erasure sweep: accounts whose deletion is due.
            models.Index(
                fields=["deletion_due_at"], condition=Q(deletion_due_at__isnull=False), name="accounts_user_deletion_due"
            ),
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
    anything that makes the account inactive: a suspension, a deactivation, a deletion
    (every family of the user; ``bellamy.accounts.lifecycle``).
    """

    class Reason(models.TextChoices):
        LOGOUT = "logout"
        REUSE = "reuse", "reuse of a rotated refresh token"
        PASSWORD_CHANGE = "password_change", "password change"
        SUSPENSION = "suspension"
        DEACTIVATION = "deactivation"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_families")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)

    class Meta:
        verbose_name_plural = "token families"

    def __str__(self) -> str:
        return f"{self.user_id}/{self.pk}"


class AccountErasure(models.Model):
    """The tombstone of an erased account: which user id was erased, when, and whether every
    store has finished (no personal data: the id is a number whose row is gone).

    Written by :func:`bellamy.accounts.services.account_erase` in the transaction that publishes
    ``user.deleted`` (``event_id``); ``completed_at`` is set by
    :func:`bellamy.accounts.services.account_erasures_complete` once every task routed from that
    event has handled it, when the anonymised user row is deleted. ``user_id`` is a plain
    integer, not a foreign key, so the tombstone outlives the row.
    """

    user_id = models.BigIntegerField(unique=True)
    due_at = models.DateTimeField(help_text="When the deletion was due (the erasure time for a staff deletion).")
    erased_at = models.DateTimeField(help_text="When the account was anonymised and user.deleted published.")
    event_id = models.UUIDField(help_text="The id of the user.deleted event.")
    completed_at = models.DateTimeField(
        null=True, blank=True, help_text="When every store had handled user.deleted and the user row was deleted."
    )

    class Meta:
        indexes = [
            models.Index(fields=["erased_at"], condition=Q(completed_at__isnull=True), name="accounts_erasure_pending"),
        ]

    def __str__(self) -> str:
        state = "complete" if self.completed_at else "in progress"
        return f"Erasure of user {self.user_id} ({state})"
