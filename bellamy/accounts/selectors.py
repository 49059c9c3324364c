"""Reads of accounts that need nothing but the account itself.

Reads that depend on the viewer's relationship to a user (profiles with ``friends_count`` and
``friendship_status``, user search without blocked users) are graph facts: they live in
:mod:`graph.selectors` and are served by :mod:`graph.api.users`, so that ``bellamy.accounts``
imports no domain app.

The account-state reads below are the workers' one-query guards (README "Account lifecycle"):
an event still queued when an account went away must not bring anything of it back. (The read
paths filter on ``is_active`` themselves, e.g. :func:`posts.selectors.visible_posts`.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model

from bellamy.accounts.models import AccountErasure

User = get_user_model()


def active_user(user_id: int) -> User | None:
    """Return the active user ``user_id``, or None (unknown, suspended, deactivated or erased)."""
    return User.objects.filter(id=user_id, is_active=True).first()


def active_user_ids(user_ids: Iterable[int]) -> set[int]:
    """The subset of ``user_ids`` that are existing, active accounts (one query)."""
    ids = {int(uid) for uid in user_ids}
    if not ids:
        return set()
    return set(User.objects.filter(id__in=ids, is_active=True).values_list("id", flat=True))


def erased_user_ids(user_ids: Iterable[int]) -> set[int]:
    """The subset of ``user_ids`` that were erased: those with an :class:`AccountErasure`
    tombstone (one query on its unique index), whether the anonymised row still exists or not."""
    ids = {int(uid) for uid in user_ids}
    if not ids:
        return set()
    return set(AccountErasure.objects.filter(user_id__in=ids).values_list("user_id", flat=True))


def live_user_ids(user_ids: Iterable[int]) -> set[int]:
    """``user_ids`` without the erased ones (:func:`erased_user_ids`; one query). Deactivated and
    suspended accounts are live: they may come back, so what is theirs is kept. Ids PostgreSQL
    does not know are live too: stores take any id (a shard's, a test's); only a tombstone says
    that nothing may be written for an id again."""
    ids = {int(uid) for uid in user_ids}
    return ids - erased_user_ids(ids)


def erasures_due(*, now: datetime, limit: int) -> list[int]:
    """Ids of the accounts whose requested deletion is due at ``now`` and not yet erased,
    oldest due first, at most ``limit``."""
    return list(
        User.objects.filter(deletion_due_at__lte=now, erased_at__isnull=True)
        .order_by("deletion_due_at", "id")
        .values_list("id", flat=True)[:limit]
    )
