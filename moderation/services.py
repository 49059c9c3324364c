"""Moderation services — the one place moderators act: hide, remove and restore posts;
resolve and dismiss reports; suspend and unsuspend users; and the ``moderators`` group with its
permissions. Called by the admin actions (:mod:`moderation.admin`), so events fire exactly as
they would from any other caller.

Every action:

- checks the actor (:func:`check_moderator`): an active staff user with ``posts.view_post``
  (:func:`posts.selectors.is_moderator`) or an active superuser, who also holds the
  permission of the action (``posts.change_post`` / ``posts.change_report`` /
  ``accounts.suspend_user``); otherwise :class:`django.core.exceptions.PermissionDenied`;
- runs in one ``transaction.atomic()`` with the subject's row locked (``SELECT … FOR
  UPDATE``), so two moderators acting at once serialise;
- records one :class:`moderation.models.ModerationAction` (the audit log) and, for post state
  changes, publishes ``post.moderated`` through the outbox in the same transaction;
- is a no-op when the subject is already in the target state: nothing is written, no event
  is published, and ``None`` is returned.

Event: ``post.moderated`` key = post author id, data ``{post_id, author_id, action,
moderator_id}`` with ``action`` one of ``"hide"``, ``"remove"``, ``"restore"``, actor = the
moderator. The feed, trends, scoring and notification workers react to it (routing table).

A suspended user has ``suspended_at`` set and is therefore ``is_active=False`` (README
"Account lifecycle": suspension, the owner's deactivation and a pending deletion are separate
reasons; the account is active only when none holds, so an unsuspension does not reactivate
an account its owner deactivated, and a deactivated account can still be suspended):

- they cannot log in: ``POST /api/auth/token`` answers 401 (Django's ``ModelBackend`` refuses
  inactive users);
- their access tokens stop working at once: simplejwt's ``JWTAuthentication`` loads the user
  on every request and rejects an inactive one (401);
- every session of theirs ends (:func:`bellamy.accounts.services.user_tokens_revoke`: token
  families revoked, refresh tokens blacklisted), so neither their old access tokens nor
  ``POST /api/auth/token/refresh`` work even after an unsuspension (they log in again);
- their open WebSockets are closed after commit
  (:func:`bellamy.realtime.services.close_user_sockets`).

- the account and its content disappear for everybody else (like a deactivation).

When ``is_active`` changes, ``user.deactivated`` / ``user.reactivated`` ``{user_id, cause:
"suspension"}`` is published (key = user id, actor = the moderator): trends and feed caches
follow.

Moderators can also deactivate and reactivate an account (``accounts.deactivate_user``, e.g.
on the owner's request or when it looks compromised): the owner can reactivate it too. Deleting
an account (erasing it everywhere, irreversibly) needs ``accounts.erase_user``, which the
``moderators`` group does not hold: staff granted it, and superusers. All of these write one
audit row.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, router, transaction
from django.utils import timezone

from bellamy.accounts import lifecycle
from bellamy.events.services import publish
from moderation.models import MODERATION_REASON_MAX_LENGTH, ModerationAction
from posts.models import Post, Report
from posts.selectors import is_moderator

#: The name of the group that makes a staff user a moderator (``manage.py setup_moderators``).
MODERATORS_GROUP = "moderators"

#: The custom permission that allows suspending users, ``(app_label, codename, name)``: it
#: belongs to the ``accounts.User`` content type and is created by :func:`moderators_group_sync`.
SUSPEND_PERMISSION = ("accounts", "suspend_user", "Can suspend and unsuspend users")
#: The same permission as ``user.has_perm`` spells it: ``"accounts.suspend_user"``.
SUSPEND_PERM = f"{SUSPEND_PERMISSION[0]}.{SUSPEND_PERMISSION[1]}"
#: Deactivating and reactivating accounts (declared on ``accounts.User``; moderators hold it).
DEACTIVATE_PERM = "accounts.deactivate_user"
#: Deleting accounts for good (declared on ``accounts.User``; NOT given to moderators).
ERASE_PERM = "accounts.erase_user"

#: Exactly the permissions of the ``moderators`` group, as ``(app_label, codename)``:
#: see posts and reports and act on them, see comments and users, suspend users, read the
#: audit log. Nothing else (no add/delete, no groups, no user edits). The one definition:
#: ``migrate`` (:func:`moderators_group_ensure`) and ``manage.py setup_moderators``
#: (:func:`moderators_group_sync`) both apply it.
MODERATOR_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("posts", "view_post"),
    ("posts", "change_post"),
    ("posts", "view_comment"),
    ("posts", "view_report"),
    ("posts", "change_report"),
    ("moderation", "view_moderationaction"),
    ("accounts", "view_user"),
    SUSPEND_PERMISSION[:2],
    ("accounts", "deactivate_user"),
)

_POST_EVENT_ACTION = {
    Post.ModerationState.HIDDEN: ("hide", ModerationAction.Action.POST_HIDE),
    Post.ModerationState.REMOVED: ("remove", ModerationAction.Action.POST_REMOVE),
    Post.ModerationState.VISIBLE: ("restore", ModerationAction.Action.POST_RESTORE),
}


def check_moderator(user, permission: str) -> None:
    """Raise unless ``user`` may moderate with ``permission``.

    Args:
        user: the acting user.
        permission: ``"app_label.codename"``, e.g. ``"posts.change_post"``.
    Raises:
        PermissionDenied: ``user`` is not a moderator (an active staff user with
            ``posts.view_post``, or an active superuser) or lacks ``permission``.
    """
    allowed = bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and (user.is_superuser or is_moderator(user))
        and user.has_perm(permission)
    )
    if not allowed:
        raise PermissionDenied(f"Only moderators with {permission} may do this.")


def clean_reason(reason: str) -> str:
    """Return ``reason`` trimmed.

    Raises:
        ValidationError: the reason is empty or longer than
            :data:`moderation.models.MODERATION_REASON_MAX_LENGTH` characters.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.", code="reason_required")
    if len(reason) > MODERATION_REASON_MAX_LENGTH:
        raise ValidationError(
            f"The reason is longer than {MODERATION_REASON_MAX_LENGTH} characters.", code="reason_too_long"
        )
    return reason


def _close_open_reports(post_id: int, moderator) -> int:
    """Resolve every open report of post ``post_id`` (by ``moderator``, now). Returns how many."""
    return Report.objects.filter(post_id=post_id, status=Report.Status.OPEN).update(
        status=Report.Status.RESOLVED, resolved_at=timezone.now(), resolved_by=moderator
    )


def _post_set_state(*, post: Post, moderator, reason: str, state: str) -> ModerationAction | None:
    check_moderator(moderator, "posts.change_post")
    reason = clean_reason(reason)
    event_action, audit_action = _POST_EVENT_ACTION[state]
    with transaction.atomic():
        locked = Post.objects.select_for_update().get(pk=post.pk)
        if locked.moderation_state == state:
            post.moderation_state = state
            return None
        locked.moderation_state = state
        locked.save(update_fields=["moderation_state"])
        if state != Post.ModerationState.VISIBLE:
            _close_open_reports(locked.pk, moderator)
        action = ModerationAction.objects.create(
            moderator=moderator, action=audit_action, post=locked, target_user_id=locked.author_id, reason=reason
        )
        publish(
            "post.moderated",
            key=locked.author_id,
            actor_id=moderator.pk,
            data={
                "post_id": locked.pk,
                "author_id": locked.author_id,
                "action": event_action,
                "moderator_id": moderator.pk,
            },
        )
    post.moderation_state = state
    return action


def post_hide(*, post: Post, moderator, reason: str) -> ModerationAction | None:
    """Hide ``post`` (``moderation_state="hidden"``): only moderators see it anywhere; its
    open reports are resolved by ``moderator``.

    Args:
        post: any post (deleted ones too); its ``moderation_state`` attribute is updated.
        moderator: the acting moderator (needs ``posts.change_post``).
        reason: why (1..1,000 characters after trimming), kept in the audit log.
    Returns:
        The audit row, or ``None`` when the post was already hidden (no-op, no event).
    Raises:
        PermissionDenied: ``moderator`` may not moderate posts.
        ValidationError: empty or over-long ``reason``.
    Events:
        ``post.moderated`` key=author id, data ``{post_id, author_id, action: "hide",
        moderator_id}``, actor=moderator.
    """
    return _post_set_state(post=post, moderator=moderator, reason=reason, state=Post.ModerationState.HIDDEN)


def post_remove(*, post: Post, moderator, reason: str) -> ModerationAction | None:
    """Remove ``post`` (``moderation_state="removed"``); like :func:`post_hide` but final in
    intent (a restore is still possible). Open reports are resolved by ``moderator``.

    Returns:
        The audit row, or ``None`` when the post was already removed.
    Raises:
        PermissionDenied, ValidationError: as :func:`post_hide`.
    Events:
        ``post.moderated`` with ``action: "remove"``.
    """
    return _post_set_state(post=post, moderator=moderator, reason=reason, state=Post.ModerationState.REMOVED)


def post_restore(*, post: Post, moderator, reason: str) -> ModerationAction | None:
    """Make a hidden or removed ``post`` visible again (its reports stay as they are).

    Returns:
        The audit row, or ``None`` when the post was already visible.
    Raises:
        PermissionDenied, ValidationError: as :func:`post_hide`.
    Events:
        ``post.moderated`` with ``action: "restore"``.
    """
    return _post_set_state(post=post, moderator=moderator, reason=reason, state=Post.ModerationState.VISIBLE)


def _report_close(*, report: Report, moderator, reason: str, status: str) -> ModerationAction | None:
    check_moderator(moderator, "posts.change_report")
    reason = clean_reason(reason)
    audit_action = (
        ModerationAction.Action.REPORT_RESOLVE
        if status == Report.Status.RESOLVED
        else ModerationAction.Action.REPORT_DISMISS
    )
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        if locked.status == status:
            return None
        locked.status = status
        locked.resolved_at = timezone.now()
        locked.resolved_by = moderator
        locked.save(update_fields=["status", "resolved_at", "resolved_by"])
        action = ModerationAction.objects.create(
            moderator=moderator,
            action=audit_action,
            report=locked,
            post_id=locked.post_id,
            target_user_id=locked.reporter_id,
            reason=reason,
        )
    report.status, report.resolved_at, report.resolved_by = locked.status, locked.resolved_at, moderator
    return action


def report_resolve(*, report: Report, moderator, reason: str) -> ModerationAction | None:
    """Mark ``report`` resolved (the moderator acted on it, or decided it was handled):
    ``status="resolved"``, ``resolved_at``=now, ``resolved_by``=moderator. A dismissed report
    may be resolved (a decision corrected); the post itself is not changed.

    Args:
        report: the report; its fields are updated in place.
        moderator: the acting moderator (needs ``posts.change_report``).
        reason: 1..1,000 characters after trimming.
    Returns:
        The audit row (``report``, ``post`` and ``target_user`` = the reporter), or ``None``
        when the report was already resolved.
    Raises:
        PermissionDenied: ``moderator`` may not handle reports.
        ValidationError: empty or over-long ``reason``.
    Events:
        None (reports are internal to moderation).
    """
    return _report_close(report=report, moderator=moderator, reason=reason, status=Report.Status.RESOLVED)


def report_dismiss(*, report: Report, moderator, reason: str) -> ModerationAction | None:
    """Mark ``report`` dismissed (nothing wrong with the post); as :func:`report_resolve` with
    ``status="dismissed"``. Returns ``None`` when it was already dismissed. Events: none."""
    return _report_close(report=report, moderator=moderator, reason=reason, status=Report.Status.DISMISSED)


# --- users ------------------------------------------------------------------------------------


def _check_user_moderation(user, moderator, permission: str = SUSPEND_PERM, verb: str = "suspend or unsuspend") -> None:
    check_moderator(moderator, permission)
    if user.pk == moderator.pk:
        raise PermissionDenied(f"You cannot {verb} yourself.")
    if (user.is_staff or user.is_superuser) and not moderator.is_superuser:
        raise PermissionDenied(f"Only superusers may {verb} staff accounts.")


def _user_set_active(*, user, moderator, reason: str, active: bool) -> ModerationAction | None:
    """Suspend (``active=False``) or unsuspend (``active=True``) ``user``: see
    :func:`user_suspend` and :func:`user_unsuspend`; what going inactive adds (tokens
    blacklisted, sockets closed after commit, the event) is
    :func:`bellamy.accounts.lifecycle.account_access_apply`."""
    _check_user_moderation(user, moderator)
    reason = clean_reason(reason)
    User = get_user_model()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if (locked.suspended_at is None) == active:
            user.is_active, user.suspended_at = locked.is_active, locked.suspended_at
            return None
        locked.suspended_at = None if active else timezone.now()
        # Going inactive ends the sessions and closes the sockets after commit (an account
        # already inactive, e.g. deactivated, has none left).
        lifecycle.account_access_apply(locked, cause=lifecycle.CAUSE_SUSPENSION, actor_id=moderator.pk,
                                       fields=["suspended_at"])
        action = ModerationAction.objects.create(
            moderator=moderator,
            action=ModerationAction.Action.USER_UNSUSPEND if active else ModerationAction.Action.USER_SUSPEND,
            target_user=locked,
            reason=reason,
        )
    user.is_active, user.suspended_at = locked.is_active, locked.suspended_at
    return action


def user_suspend(*, user, moderator, reason: str) -> ModerationAction | None:
    """Suspend ``user``: ``suspended_at`` set (so ``is_active=False``), every session ended
    (token families revoked, refresh tokens blacklisted), sockets closed after commit, one
    audit row.

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
        ``user.deactivated`` ``{user_id, cause: "suspension"}`` when the account was active.
    """
    return _user_set_active(user=user, moderator=moderator, reason=reason, active=False)


def user_unsuspend(*, user, moderator, reason: str) -> ModerationAction | None:
    """Lift a suspension: ``suspended_at`` cleared (the account is active again unless its
    owner deactivated it) and one audit row. Tokens blacklisted by the suspension stay
    blacklisted (the user logs in again).

    Args, Raises: as :func:`user_suspend`.
    Returns:
        The audit row (``action="user_unsuspend"``), or ``None`` when the user was not suspended.
    Events:
        ``user.reactivated`` ``{user_id, cause: "suspension"}`` when the account became active.
    """
    return _user_set_active(user=user, moderator=moderator, reason=reason, active=True)


@contextmanager
def _not_erased():
    """Turn :class:`bellamy.accounts.lifecycle.AccountErased` into ``PermissionDenied`` (what
    the admin actions report per object)."""
    try:
        yield
    except lifecycle.AccountErased:
        raise PermissionDenied("This account has been deleted.") from None


def user_deactivate(*, user, moderator, reason: str) -> ModerationAction | None:
    """Deactivate ``user``'s account as a moderator (e.g. on the owner's request, or a
    compromised account): as the owner's own deactivation (everything of it disappears, sessions
    end, sockets close; the owner may reactivate with their password), plus one audit row.

    Args:
        user: the account (attributes updated in place).
        moderator: needs ``accounts.deactivate_user``; only a superuser may deactivate a staff
            account; nobody deactivates themselves here.
        reason: 1..1,000 characters after trimming.
    Returns:
        The audit row (``action="user_deactivate"``), or ``None`` when already deactivated.
    Raises:
        PermissionDenied: as :func:`user_suspend`, or the account was erased.
        ValidationError: as :func:`user_suspend`.
    Events:
        ``user.deactivated`` ``{user_id, cause: "moderator"}`` when the account was active.
    """
    _check_user_moderation(user, moderator, DEACTIVATE_PERM, "deactivate or reactivate")
    reason = clean_reason(reason)
    with transaction.atomic(), _not_erased():
        if not lifecycle.account_deactivate(user=user, cause=lifecycle.CAUSE_MODERATOR, actor_id=moderator.pk):
            return None
        return ModerationAction.objects.create(
            moderator=moderator, action=ModerationAction.Action.USER_DEACTIVATE, target_user=user, reason=reason
        )


def user_reactivate(*, user, moderator, reason: str) -> ModerationAction | None:
    """Reactivate a deactivated account (cancelling a pending deletion) as a moderator; a
    suspension, if any, stays. One audit row.

    Args, Raises: as :func:`user_deactivate`.
    Returns:
        The audit row (``action="user_reactivate"``), or ``None`` when it was not deactivated.
    Events:
        ``user.reactivated`` ``{user_id, cause: "moderator"}`` when the account became active.
    """
    _check_user_moderation(user, moderator, DEACTIVATE_PERM, "deactivate or reactivate")
    reason = clean_reason(reason)
    with transaction.atomic(), _not_erased():
        if not lifecycle.account_reactivate(user=user, cause=lifecycle.CAUSE_MODERATOR, actor_id=moderator.pk):
            return None
        return ModerationAction.objects.create(
            moderator=moderator, action=ModerationAction.Action.USER_REACTIVATE, target_user=user, reason=reason
        )


def check_eraser(user) -> None:
    """Raise unless ``user`` may delete accounts: an active staff user holding
    ``accounts.erase_user`` (superusers hold every permission). Moderators do not.

    Raises:
        PermissionDenied.
    """
    allowed = bool(
        getattr(user, "is_authenticated", False) and user.is_active and user.is_staff and user.has_perm(ERASE_PERM)
    )
    if not allowed:
        raise PermissionDenied(f"Only staff with {ERASE_PERM} may delete accounts.")


def user_delete(*, user, moderator, reason: str) -> ModerationAction | None:
    """Delete ``user``'s account for good, now (no grace period: staff decided): the account is
    erased (:func:`bellamy.accounts.lifecycle.account_erase` with ``force``) and every store
    forgets it through ``user.deleted``. One audit row, written in the same transaction; once
    the erasure completes its ``target_user`` is cleared like every other row about the account.

    Args:
        user: the account.
        moderator: an active staff user with ``accounts.erase_user``; only a superuser may
            delete a staff account; nobody deletes themselves here.
        reason: 1..1,000 characters after trimming.
    Returns:
        The audit row (``action="user_delete"``), or ``None`` when the account was already erased.
    Raises:
        PermissionDenied: see ``moderator``.
        ValidationError: empty or over-long ``reason``.
    Events:
        ``user.deactivated`` (if it was active) and ``user.deleted`` ``{user_id}``, actor = the
        staff member.
    """
    check_eraser(moderator)
    if user.pk == moderator.pk:
        raise PermissionDenied("You cannot delete yourself.")
    if (user.is_staff or user.is_superuser) and not moderator.is_superuser:
        raise PermissionDenied("Only superusers may delete staff accounts.")
    reason = clean_reason(reason)
    with transaction.atomic():
        if lifecycle.account_erase(user_id=user.pk, force=True, actor_id=moderator.pk) is None:
            return None
        return ModerationAction.objects.create(
            moderator=moderator, action=ModerationAction.Action.USER_DELETE, target_user_id=user.pk, reason=reason
        )


# --- the moderators group -------------------------------------------------------------------


def moderators_group_sync(*, remove_extra: bool = True):
    """Create or repair the ``moderators`` group so it holds :data:`MODERATOR_PERMISSIONS`
    (idempotent).

    Creates the ``accounts.suspend_user`` permission if missing (model permissions must exist:
    they are created by ``migrate``).

    Args:
        remove_extra: True (``manage.py setup_moderators``): the group ends with exactly the
            list, extra permissions are taken away. False (after every ``migrate``, see
            :func:`moderators_group_ensure`): missing ones are added, none is taken away, so a
            permission an administrator granted on purpose survives a deployment.
    Returns:
        ``(group, changed)``: the :class:`django.contrib.auth.models.Group` and whether
        anything was created or changed.
    Raises:
        django.contrib.auth.models.Permission.DoesNotExist: a model permission is missing
            (``migrate`` has not run).
    """
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    with transaction.atomic():
        _, codename, name = SUSPEND_PERMISSION
        _, created_permission = Permission.objects.get_or_create(
            content_type=ContentType.objects.get_for_model(get_user_model()), codename=codename, defaults={"name": name}
        )
        wanted = {
            Permission.objects.get(content_type__app_label=app_label, codename=codename).pk
            for app_label, codename in MODERATOR_PERMISSIONS
        }
        group, created_group = Group.objects.get_or_create(name=MODERATORS_GROUP)
        current = set(group.permissions.values_list("pk", flat=True))
        target = wanted if remove_extra else current | wanted
        if current != target:
            group.permissions.set(target)
    return group, bool(created_permission or created_group or current != target)


def moderators_group_ensure(sender=None, *, using: str = DEFAULT_DB_ALIAS, apps=None, **kwargs) -> None:
    """``post_migrate`` receiver of the ``moderation`` app (connected in
    :meth:`moderation.apps.ModerationConfig.ready`): after every ``migrate`` (and every test
    database flush) the ``moderators`` group exists with at least :data:`MODERATOR_PERMISSIONS`
    (:func:`moderators_group_sync` with ``remove_extra=False``).

    It runs after Django's own ``post_migrate`` handlers created the content types and model
    permissions (the ``moderation`` app is installed after ``accounts`` and ``posts``). Nothing
    is done on a database the router does not migrate, or when a partial ``migrate`` left
    ``auth`` or a listed model permission out (``manage.py setup_moderators`` repairs later).
    Events: none.
    """
    from django.contrib.auth.models import Group, Permission

    if using != DEFAULT_DB_ALIAS or not router.allow_migrate_model(using, Group):
        return
    if apps is not None:
        try:
            apps.get_model("auth", "Group")
        except LookupError:
            return
    try:
        moderators_group_sync(remove_extra=False)
    except Permission.DoesNotExist:
        return


def moderator_add(*, user) -> bool:
    """Make ``user`` a moderator: ``is_staff=True`` and a member of the ``moderators`` group
    (never a superuser). The group must exist (:func:`moderators_group_sync`).

    Returns:
        True when something changed, False when ``user`` already was a staff member of the group.
    Events:
        None.
    """
    from django.contrib.auth.models import Group

    with transaction.atomic():
        group = Group.objects.get(name=MODERATORS_GROUP)
        changed = False
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
            changed = True
        if not user.groups.filter(pk=group.pk).exists():
            user.groups.add(group)
            changed = True
    return changed
