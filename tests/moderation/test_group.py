"""The ``moderators`` group: created by ``migrate`` (the moderation app's ``post_migrate``) with
exactly the permissions moderators need, repaired and extended by ``manage.py setup_moderators``."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

EXPECTED = [
    "accounts.deactivate_user",
    "accounts.suspend_user",
    "accounts.view_user",
    "moderation.view_moderationaction",
    "posts.change_post",
    "posts.change_report",
    "posts.view_comment",
    "posts.view_post",
    "posts.view_report",
]


def group_permissions() -> list[str]:
    return sorted(
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name="moderators").permissions.values_list(
            "content_type__app_label", "codename"
        )
    )


def setup_moderators(*args) -> str:
    out = StringIO()
    call_command("setup_moderators", *args, stdout=out)
    return out.getvalue().strip()


def test_migrate_created_the_group_with_exactly_the_moderator_permissions():
    # given a freshly migrated database / then the group holds exactly these nine permissions
    assert group_permissions() == EXPECTED


def test_a_moderator_has_those_permissions_and_is_staff_not_superuser(moderator):
    assert (moderator.is_staff, moderator.is_superuser) == (True, False)
    assert sorted(moderator.get_all_permissions()) == EXPECTED


def test_setup_moderators_is_idempotent_and_repairs_the_group():
    # given the group was tampered with: one permission missing, one extra
    group = Group.objects.get(name="moderators")
    group.permissions.remove(Permission.objects.get(codename="change_report"))
    group.permissions.add(Permission.objects.get(codename="delete_user"))
    # when running the command twice
    first, second = setup_moderators(), setup_moderators()
    # then the first run repaired it, the second changed nothing
    assert first == "moderators group updated (9 permissions); 0 user(s) made moderator, 0 already moderator(s); 0 moderator(s) in total"
    assert second == "moderators group unchanged (9 permissions); 0 user(s) made moderator, 0 already moderator(s); 0 moderator(s) in total"
    assert group_permissions() == EXPECTED


def test_setup_moderators_recreates_a_deleted_group():
    Group.objects.filter(name="moderators").delete()
    assert setup_moderators().startswith("moderators group updated")
    assert group_permissions() == EXPECTED


def test_setup_moderators_add_makes_staff_members_of_the_group(user_factory):
    # given two ordinary users
    ann, bob = user_factory(username="ann"), user_factory(username="bob")
    # when adding them (case-insensitive username), then again
    first = setup_moderators("--add", "ANN", "--add", "bob")
    second = setup_moderators("--add", "ann")
    # then both are staff moderators, never superusers, and the second run changed nothing
    assert first.endswith("2 user(s) made moderator, 0 already moderator(s); 2 moderator(s) in total")
    assert second.endswith("0 user(s) made moderator, 1 already moderator(s); 2 moderator(s) in total")
    for user in (ann, bob):
        user.refresh_from_db()
        assert (user.is_staff, user.is_superuser, list(user.groups.values_list("name", flat=True))) == (
            True, False, ["moderators"],
        )


def test_setup_moderators_unknown_user_changes_nothing(user_factory):
    ann = user_factory(username="ann")
    with pytest.raises(CommandError, match="No user named 'nobody'; nothing was changed."):
        setup_moderators("--add", "ann", "--add", "nobody")
    ann.refresh_from_db()
    assert (ann.is_staff, ann.groups.count()) == (False, 0)
