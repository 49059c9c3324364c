"""Services of the account lifecycle: deactivate, reactivate, request deletion, erase.

README "Account lifecycle" has the states and how they combine; in short, ``is_active`` is off
while any reason holds (``suspended_at``, ``deactivated_at``, ``erased_at``), and every change of
``is_active`` publishes one event, in the transaction of the change:

- ``user.deactivated`` ``{user_id, cause}`` when the account disappears — ``cause`` is
  ``"self"``, ``"moderator"``, ``"suspension"`` or ``"deletion"``;
- ``user.reactivated`` ``{user_id, cause}`` when it comes back (``"self"``, ``"moderator"``,
  ``"suspension"`` for an unsuspension);
- ``user.deleted`` ``{user_id}`` when it is erased (:func:`account_erase`).

Key: the user's id; actor: whoever acted (``None`` for the erasure sweep).

The read paths exclude inactive accounts at query time (``posts.selectors`` and the user lists),
so an account is gone for everybody the moment the transaction commits; the events let the
derived stores follow (trends, feed caches) and, for ``user.deleted``, make every store forget
the user. Deactivating also ends the user's sessions: their token families are revoked and
their refresh tokens blacklisted (:func:`bellamy.accounts.services.user_tokens_revoke`), so
access tokens are refused by every request and WebSocket handshake, and the open sockets are
closed after commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from bellamy.accounts import selectors, services
from bellamy.accounts.models import AccountErasure, TokenFamily
from bellamy.events import routes
from bellamy.events.models import ProcessedEvent
from bellamy.events.services import publish
from bellamy.realtime.services import close_user_sockets

logger = logging.getLogger(__name__)
User = get_user_model()

#: Causes of ``user.deactivated`` / ``user.reactivated``.
CAUSE_SELF = "self"
CAUSE_MODERATOR = "moderator"
CAUSE_SUSPENSION = "suspension"
CAUSE_DELETION = "deletion"


class AccountSuspended(APIException):
    """403: a suspended account cannot be reactivated by its owner."""

    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "This account is suspended; only a moderator can lift the suspension."
    default_code = "account_suspended"


class NotDeactivated(APIException):
    """409: the account is active, there is nothing to reactivate."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "This account is not deactivated."
    default_code = "not_deactivated"


class AccountErased(APIException):
    """409: the account was erased; nothing can be done with it any more."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "This account has been deleted."
    default_code = "account_erased"


def deletion_grace() -> timedelta:
    """The operator's grace period between a deletion request and the erasure
    (``BELLAMY_ACCOUNT_DELETION_GRACE_DAYS``, default 30; 0 erases at the next sweep)."""
    return timedelta(days=settings.BELLAMY_ACCOUNT_DELETION_GRACE_DAYS)


def account_access_sync(user) -> bool:
    """Set ``user.is_active`` from its reasons (not saved): active exactly when neither
    suspended, deactivated nor erased.

    Returns:
        True when ``is_active`` changed.
    """
    active = user.suspended_at is None and user.deactivated_at is None and user.erased_at is None
    changed = user.is_active != active
    user.is_active = active
    return changed


def user_sessions_end(*, user_id: int, cause: str) -> int:
    """End every session of ``user_id`` (inside the caller's transaction) because the account
    went inactive: every token family is revoked and every refresh token blacklisted
    (:func:`bellamy.accounts.services.user_tokens_revoke`), so no token issued before works
    again, even after a reactivation (the user logs in again). The caller closes the sockets
    after commit.

    Args:
        cause: the ``user.deactivated`` cause; a suspension is recorded as the families'
            ``suspension`` reason, anything else (self, moderator, deletion) as ``deactivation``.
    Returns:
        How many token families were revoked. Events: none.
    """
    reason = TokenFamily.Reason.SUSPENSION if cause == CAUSE_SUSPENSION else TokenFamily.Reason.DEACTIVATION
    return services.user_tokens_revoke(user_id=user_id, reason=reason)


def account_access_apply(locked, *, cause: str, actor_id: int | None, fields: list[str]) -> bool:
    """Recompute ``is_active`` of the locked user row ``locked`` after a reason changed, save
    ``fields`` (plus ``is_active``), and publish the visibility event if ``is_active`` moved.

    Used by every service that changes a reason (this module, and the moderators' suspension in
    ``moderation.services``). Must run inside ``transaction.atomic()`` with ``locked`` locked.

    Returns:
        True when ``is_active`` changed.
    Events:
        ``user.deactivated`` or ``user.reactivated`` ``{user_id, cause}``, key = user id.
    """
    changed = account_access_sync(locked)
    locked.save(update_fields=[*fields, "is_active"])
    if not changed:
        return False
    event = "user.reactivated" if locked.is_active else "user.deactivated"
    publish(event, key=locked.pk, actor_id=actor_id, data={"user_id": locked.pk, "cause": cause})
    if not locked.is_active:
        user_sessions_end(user_id=locked.pk, cause=cause)
        user_id = locked.pk
        transaction.on_commit(lambda: close_user_sockets(user_id), robust=True)
    return True


def _lock(user_id: int):
    return User.objects.select_for_update().get(pk=user_id)


def account_deactivate(*, user, cause: str = CAUSE_SELF, actor_id: int | None = None) -> bool:
    """Deactivate ``user``'s account: it and everything it wrote disappear for everybody else at
    commit (read paths exclude inactive accounts), its sessions end and its sockets close.
    Reversible: :func:`account_reactivate`.

    Args:
        user: the account (its attributes are refreshed from the locked row).
        cause: ``"self"`` (the user) or ``"moderator"``.
        actor_id: who acted (default the user).
    Returns:
        True when the account was deactivated now; False when it already was (no-op, no event).
    Raises:
        AccountErased: the account was erased.
    Events:
        ``user.deactivated`` ``{user_id, cause}`` when ``is_active`` went off (not when the
        account was already inactive for another reason, e.g. suspended).
    """
    with transaction.atomic():
        locked = _lock(user.pk)
        if locked.erased_at is not None:
            raise AccountErased()
        if locked.deactivated_at is not None:
            _copy_state(locked, user)
            return False
        locked.deactivated_at = timezone.now()
        account_access_apply(locked, cause=cause, actor_id=user.pk if actor_id is None else actor_id,
                             fields=["deactivated_at"])
    _copy_state(locked, user)
    return True


def account_reactivate(*, user, cause: str = CAUSE_SELF, actor_id: int | None = None) -> bool:
    """Reactivate a deactivated account (also cancels a pending deletion). A suspension, if
    any, stays: the account becomes active only when that is lifted too.

    Returns:
        True when the account was deactivated and is not any more; False when it was not
        deactivated (no-op).
    Raises:
        AccountErased: the account was erased.
    Events:
        ``user.reactivated`` ``{user_id, cause}`` when ``is_active`` came back on.
    """
    with transaction.atomic():
        locked = _lock(user.pk)
        if locked.erased_at is not None:
            raise AccountErased()
        if locked.deactivated_at is None and locked.deletion_due_at is None:
            _copy_state(locked, user)
            return False
        locked.deactivated_at = None
        locked.deletion_due_at = None
        account_access_apply(locked, cause=cause, actor_id=user.pk if actor_id is None else actor_id,
                             fields=["deactivated_at", "deletion_due_at"])
    _copy_state(locked, user)
    return True


def _copy_state(source, target) -> None:
    for name in ("is_active", "deactivated_at", "deletion_due_at", "suspended_at", "erased_at"):
        setattr(target, name, getattr(source, name))


@dataclass(frozen=True)
class Reactivation:
    """The result of :func:`account_reactivate_with_password`: the user and a new session."""

    user: object
    access: str
    refresh: str


def account_reactivate_with_password(*, username: str, password: str) -> Reactivation:
    """``POST /api/auth/reactivate``: the owner of a deactivated account (or one awaiting
    deletion) comes back with their credentials; a new session starts.

    Args:
        username: compared case-insensitively.
        password: the account's password.
    Returns:
        :class:`Reactivation` with a new access and refresh token.
    Raises:
        AuthenticationFailed: unknown username, wrong password or erased account (401
            ``invalid_credentials``: nothing tells which).
        AccountSuspended: the account is suspended (403 ``account_suspended``), whether or not
            it is also deactivated.
        NotDeactivated: the account is active (409 ``not_deactivated``).
    Events:
        ``user.reactivated`` ``{user_id, cause: "self"}``.
    """
    user = User.objects.annotate(lower=Lower("username")).filter(lower=username.lower()).first()
    if user is None or user.erased_at is not None or not user.check_password(password):
        raise AuthenticationFailed("No account with these credentials.", code="invalid_credentials")
    if user.suspended_at is not None:
        raise AccountSuspended()
    if user.deactivated_at is None and user.deletion_due_at is None:
        raise NotDeactivated()
    with transaction.atomic():
        account_reactivate(user=user, cause=CAUSE_SELF)
        if not user.is_active:  # suspended meanwhile
            raise AccountSuspended()
        refresh = services.token_pair_issue(user=user)
    return Reactivation(user=user, access=str(refresh.access_token), refresh=str(refresh))


def account_deletion_request(*, user, grace: timedelta | None = None, actor_id: int | None = None) -> datetime:
    """The user asks for their account to be deleted: it is deactivated at once (everything
    disappears for others, sessions end) and erased when the grace period has passed
    (:func:`accounts_erase_due`, run by the beat and ``manage.py accounts_erase``) unless the
    user reactivates it before.

    Args:
        grace: default :func:`deletion_grace` (``BELLAMY_ACCOUNT_DELETION_GRACE_DAYS``).
    Returns:
        When the account will be erased (a repeated request keeps the first due time).
    Raises:
        AccountErased: already erased.
    Events:
        ``user.deactivated`` ``{user_id, cause: "deletion"}`` unless the account was inactive.
    """
    grace = deletion_grace() if grace is None else grace
    with transaction.atomic():
        locked = _lock(user.pk)
        if locked.erased_at is not None:
            raise AccountErased()
        if locked.deletion_due_at is not None:
            _copy_state(locked, user)
            return locked.deletion_due_at
        now = timezone.now()
        locked.deletion_due_at = now + grace
        fields = ["deletion_due_at"]
        if locked.deactivated_at is None:
            locked.deactivated_at = now
            fields.append("deactivated_at")
        account_access_apply(locked, cause=CAUSE_DELETION, actor_id=user.pk if actor_id is None else actor_id,
                             fields=fields)
    _copy_state(locked, user)
    return locked.deletion_due_at


def account_erase(*, user_id: int, force: bool = False, actor_id: int | None = None) -> AccountErasure | None:
    """Erase an account whose deletion is due (or any account with ``force``, the staff's
    deletion): in one transaction the user row becomes an anonymised husk (``deleted-<id>``, no
    e-mail, names, bio or usable password, inactive, ``erased_at`` set, no groups, permissions
    or tokens), the :class:`AccountErasure` tombstone is written and ``user.deleted`` is
    published. Every store then forgets the user in its own handler (README "Account
    lifecycle"); :func:`account_erasures_complete` deletes the husk once all of them are done.

    Irreversible. Concurrent writes of the user serialise on the row lock (a write holding the
    row commits first and its rows are erased by the handlers; any later one finds the account
    inactive, and the handlers' guards ignore its events).

    Args:
        user_id: the account.
        force: erase even if no deletion is due (staff deletion).
        actor_id: who acted (published as the event's actor).
    Returns:
        The tombstone, or ``None`` when there is nothing to do (unknown user, already erased,
        or not due and not forced).
    Events:
        ``user.deactivated`` ``{user_id, cause: "deletion"}`` when the account was still active,
        then ``user.deleted`` ``{user_id}``; key = user id.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = User.objects.select_for_update().filter(pk=user_id).first()
        if locked is None or locked.erased_at is not None:
            return None
        due = locked.deletion_due_at
        if not force and (due is None or due > now):
            return None
        if locked.deactivated_at is None:
            locked.deactivated_at = now
        locked.erased_at = now
        locked.username = f"deleted-{locked.pk}"
        locked.email = ""
        locked.first_name = locked.last_name = locked.display_name = locked.bio = ""
        locked.set_unusable_password()
        locked.is_staff = locked.is_superuser = False
        locked.last_login = None
        locked.date_joined = now
        locked.deletion_due_at = None
        account_access_apply(
            locked, cause=CAUSE_DELETION, actor_id=actor_id,
            fields=["deactivated_at", "erased_at", "username", "email", "first_name", "last_name", "display_name",
                    "bio", "password", "is_staff", "is_superuser", "last_login", "date_joined", "deletion_due_at"],
        )
        locked.groups.clear()
        locked.user_permissions.clear()
        OutstandingToken.objects.filter(user_id=user_id).delete()  # their blacklist rows cascade
        envelope = publish("user.deleted", key=user_id, actor_id=actor_id, data={"user_id": user_id})
        erasure = AccountErasure.objects.create(user_id=user_id, due_at=due or now, erased_at=now,
                                                event_id=envelope.id)
        transaction.on_commit(lambda: close_user_sockets(user_id), robust=True)
    logger.info("account %s erased; user.deleted %s published", user_id, envelope.id)
    return erasure


def accounts_erase_due(*, limit: int = 100) -> list[int]:
    """Erase the accounts whose deletion is due now (each in its own transaction), oldest due
    first, at most ``limit`` per call. Run by ``accounts.erase_due_accounts_task`` (beat) and
    ``manage.py accounts_erase``.

    Returns:
        The ids erased.
    Events:
        As :func:`account_erase`, per account.
    """
    erased = []
    for user_id in selectors.erasures_due(now=timezone.now(), limit=limit):
        if account_erase(user_id=user_id) is not None:
            erased.append(user_id)
    return erased


def erasure_tasks() -> set[str]:
    """The task names routed from ``user.deleted``: one per store that holds a user."""
    return {route.task for route in routes.ROUTES.get("user.deleted", ())}


def erasure_progress(erasure: AccountErasure) -> dict[str, bool]:
    """``{task name: handled}`` for every task routed from ``user.deleted``, read from the
    idempotency records of the erasure's event (one query)."""
    tasks = erasure_tasks()
    done = set(
        ProcessedEvent.objects.filter(event_id=erasure.event_id, task_name__in=tasks).values_list("task_name", flat=True)
    )
    return {task: task in done for task in sorted(tasks)}


def account_erasures_complete(*, limit: int = 100) -> list[int]:
    """Finish the erasures whose every ``user.deleted`` handler has run: delete the anonymised
    user row (Django's collector removes whatever still points at it: a straggler written
    after the handlers, the user's own admin log) and stamp ``completed_at``. Erasures with a
    handler still pending (or dead-lettered) stay in progress; ``manage.py accounts_erase
    --status`` lists them.

    Returns:
        The user ids completed now.
    Events:
        None.
    """
    completed = []
    pending = AccountErasure.objects.filter(completed_at__isnull=True).order_by("erased_at")[:limit]
    for erasure in pending:
        if not all(erasure_progress(erasure).values()):
            continue
        with transaction.atomic():
            User.objects.filter(pk=erasure.user_id, erased_at__isnull=False).delete()
            AccountErasure.objects.filter(pk=erasure.pk).update(completed_at=timezone.now())
        completed.append(erasure.user_id)
    return completed
