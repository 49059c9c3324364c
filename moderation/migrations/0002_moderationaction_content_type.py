"""Data migration: the content type of ``ModerationAction`` follows the model from ``posts`` to
``moderation``.

The row ``django_content_type (app_label="posts", model="moderationaction")`` is renamed to
``app_label="moderation"``, so its permissions (``view_moderationaction`` … — the codenames do
not change), the ``moderators`` group's grant of ``view_moderationaction``, any user's direct
grants and the admin log entries all keep pointing at it, and nothing has to be recreated.
``user.has_perm`` now spells the permission ``moderation.view_moderationaction``.

If the ``moderation`` content type already exists (``post_migrate`` ran in between), the old
one's permissions are moved to it (or, where it has the same codename already, their group and
user grants are copied to that one), and the old content type is deleted. On a fresh database there is no old
content type and nothing is done (``post_migrate`` creates the new one).
"""

from django.db import migrations


def move_content_type(apps, schema_editor, *, source: str, target: str):
    db = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    old = ContentType.objects.db_manager(db).filter(app_label=source, model="moderationaction").first()
    if old is None:
        return
    new = ContentType.objects.db_manager(db).filter(app_label=target, model="moderationaction").first()
    if new is None:
        old.app_label = target
        old.save(update_fields=["app_label"])
        return
    taken = {p.codename: p for p in Permission.objects.db_manager(db).filter(content_type=new)}
    for permission in Permission.objects.db_manager(db).filter(content_type=old):
        twin = taken.get(permission.codename)
        if twin is None:
            permission.content_type = new
            permission.save(update_fields=["content_type"])
            continue
        for group in permission.group_set.all():
            group.permissions.add(twin)
        for user in permission.user_set.all():
            user.user_permissions.add(twin)
    old.delete()


def forwards(apps, schema_editor):
    move_content_type(apps, schema_editor, source="posts", target="moderation")


def backwards(apps, schema_editor):
    move_content_type(apps, schema_editor, source="moderation", target="posts")


class Migration(migrations.Migration):

    dependencies = [
        ("moderation", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
