"""The audit model's move from ``posts`` to ``moderation``.

The move is state only: an existing database keeps its table and rows, and the content type
of the audit model is renamed, so permission rows (and the grants that point at them) stay.
"""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
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
