"""Fixtures of the moderation tests: a moderator (staff, in the ``moderators`` group), staff
without the group, and admin clients logged in as them."""

from __future__ import annotations

import pytest
from django.test import Client

from moderation.services import moderator_add, moderators_group_sync


@pytest.fixture
def moderator(user_factory):
    """A moderator: active staff member of the ``moderators`` group (not a superuser)."""
    # Transactional tests flush the database (the migration's group with it): re-create it.
    moderators_group_sync()
    user = user_factory(username="mod")
    moderator_add(user=user)
    return user


@pytest.fixture
def plain_staff(user_factory):
    """A staff user without any group or permission."""
    return user_factory(username="staffer", is_staff=True)


@pytest.fixture
def admin_client():
    """``admin_client(user)`` → a Django test client logged in to the admin as ``user``."""

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make
