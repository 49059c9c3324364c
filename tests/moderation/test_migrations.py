"""The audit model's move from ``posts`` to ``moderation``, and the group applied by ``migrate``.

The move is state only: an existing database keeps its table and rows, and the content type
of the audit model is renamed, so permission rows (and the grants that point at them) stay.
"""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from moderation.models import ModerationAction
from tests.posts.factories import PostFactory


def migrate_to(*targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(list(targets))


@pytest.mark.django_db(transaction=True)
def test_an_existing_database_keeps_its_audit_rows_and_permission_rows(user_factory):
    # given the database as it was before the move: the audit model in posts, its content type
    # posts.moderationaction, a moderators group holding posts.view_moderationaction, one row
    ContentType.objects.clear_cache()
    migrate_to(("moderation", None))
    migrate_to(("posts", "0003_moderators_group"))
    old_type = ContentType.objects.get(app_label="posts", model="moderationaction")
    view = Permission.objects.get(content_type=old_type, codename="view_moderationaction")
    group = Group.objects.get(name="moderators")
    assert view in group.permissions.all()
    moderator, post = user_factory(username="mod"), PostFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO posts_moderationaction (moderator_id, action, post_id, target_user_id, reason, created_at)"
            " VALUES (%s, 'post_hide', %s, %s, 'spam', now()) RETURNING id",
            [moderator.pk, post.pk, post.author_id],
        )
        row_id = cursor.fetchone()[0]

    # when migrating forward (posts 0004 and moderation 0001 are state only; moderation 0002
    # renames the content type)
    migrate_to(*MigrationExecutor(connection).loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()

    # then the row is read by the moderation model, and the same content type and permission
    # rows now belong to moderation; the group still holds the permission
    assert list(ModerationAction.objects.values_list("id", "action", "post_id", "moderator_id", "reason")) == [
        (row_id, "post_hide", post.pk, moderator.pk, "spam"),
    ]
    new_type = ContentType.objects.get_for_model(ModerationAction)
    assert (new_type.pk, new_type.app_label) == (old_type.pk, "moderation")
    assert not ContentType.objects.filter(app_label="posts", model="moderationaction").exists()
    assert Permission.objects.get(content_type=new_type, codename="view_moderationaction").pk == view.pk
    assert group.permissions.filter(pk=view.pk).exists()


@pytest.mark.django_db
def test_migrate_recreates_a_deleted_group_with_exactly_the_permissions():
    Group.objects.filter(name="moderators").delete()

    call_command("migrate", verbosity=0)

    assert sorted(
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name="moderators").permissions.values_list(
            "content_type__app_label", "codename"
        )
    ) == [
        "accounts.deactivate_user", "accounts.suspend_user", "accounts.view_user", "moderation.view_moderationaction",
        "posts.change_post",
        "posts.change_report", "posts.view_comment", "posts.view_post", "posts.view_report",
    ]


@pytest.mark.django_db
def test_migrate_adds_missing_permissions_and_keeps_ones_granted_on_purpose():
    # given an administrator granted one more permission, and one went missing
    group = Group.objects.get(name="moderators")
    group.permissions.add(Permission.objects.get(codename="delete_comment"))
    group.permissions.remove(Permission.objects.get(codename="change_report"))

    call_command("migrate", verbosity=0)

    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"change_report", "delete_comment"} <= codenames
    assert len(codenames) == 10
