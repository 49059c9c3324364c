"""Reads of accounts that need nothing but the account itself.

Reads that depend on the viewer's relationship to a user (profiles with ``friends_count`` and
``friendship_status``, user search without blocked users) are graph facts: they live in
:mod:`graph.selectors` and are served by :mod:`graph.api.users`, so that ``bellamy.accounts``
imports no domain app.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

User = get_user_model()


def active_user(user_id: int) -> User | None:
    """Return the active user ``user_id``, or None (unknown or suspended)."""
    return User.objects.filter(id=user_id, is_active=True).first()
