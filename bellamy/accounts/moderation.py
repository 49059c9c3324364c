"""Suspending and unsuspending users (moderation of accounts), called by the admin actions.

A suspended user is ``is_active=False``:

- they cannot log in: ``POST /api/auth/token`` answers 401 (Django's ``ModelBackend`` refuses
  inactive users);
- their access tokens stop working at once: simplejwt's ``JWTAuthentication`` loads the user
  on every request and rejects an inactive one (401);
- their refresh tokens are blacklisted here, so ``POST /api/auth/token/refresh`` answers 401
  even after an unsuspension (they log in again);
- their open WebSockets are closed after commit
  (:func:`bellamy.realtime.services.close_user_sockets`).

Both services are audited in :class:`posts.models.ModerationAction` (the one moderation audit
log) and are no-ops (``None``, nothing written) when the user is already in the target state.
No event is published: no worker reacts to suspensions (the registry has no such type).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from bellamy.realtime.services import close_user_sockets
from posts.models import ModerationAction
from posts.moderation import check_moderator, clean_reason

#: The permission a moderator needs to suspend or unsuspend users.
SUSPEND_PERMISSION = "accounts.suspend_user"


def _check(user, moderator) -> None:
    check_moderator(moderator, SUSPEND_PERMISSION)
    if user.pk == moderator.pk:
        raise PermissionDenied("You cannot suspend or unsuspend yourself.")
    if (user.is_staff or user.is_superuser) and not moderator.is_superuser:
        raise PermissionDenied("Only superusers may suspend or unsuspend staff accounts.")


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


def user_suspend(*, user, moderator, reason: str) -> ModerationAction | None:
    """Suspend ``user``: ``is_active=False``, refresh tokens blacklisted, sockets closed after
    commit, one audit row.

    Args:
        user: the account to suspend (its ``is_active`` attribute is updated in place).
        moderator: the acting moderator: needs ``accounts.suspend_user``; only a superuser may
            suspend a staff or superuser account; nobody may suspend themselves.
        reason: 1..1,000 characters after trimming (the audit log).
    Returns:
        The audit row (``action="user_suspend"``, ``target_user=user``), or ``None`` when the
        user was already suspended (nothing done).
    Raises:
        PermissionDenied: see ``moderator``.
        ValidationError: empty or over-long ``reason``.
    Events:
        None.
    """
    _check(user, moderator)
    reason = clean_reason(reason)
    User = get_user_model()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.is_active:
            user.is_active = False
            return None
        locked.is_active = False
        locked.save(update_fields=["is_active"])
        refresh_tokens_blacklist(user_id=locked.pk)
        action = ModerationAction.objects.create(
            moderator=moderator, action=ModerationAction.Action.USER_SUSPEND, target_user=locked, reason=reason
        )
        user_id = locked.pk
        transaction.on_commit(lambda: close_user_sockets(user_id), robust=True)
    user.is_active = False
    return action


def user_unsuspend(*, user, moderator, reason: str) -> ModerationAction | None:
    """Lift a suspension: ``is_active=True`` and one audit row. Tokens blacklisted by the
    suspension stay blacklisted (the user logs in again).

    Args, Raises: as :func:`user_suspend`.
    Returns:
        The audit row (``action="user_unsuspend"``), or ``None`` when the user was active.
    Events:
        None.
    """
    _check(user, moderator)
    reason = clean_reason(reason)
    User = get_user_model()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.is_active:
            user.is_active = True
            return None
        locked.is_active = True
        locked.save(update_fields=["is_active"])
        action = ModerationAction.objects.create(
            moderator=moderator, action=ModerationAction.Action.USER_UNSUSPEND, target_user=locked, reason=reason
        )
    user.is_active = True
    return action
