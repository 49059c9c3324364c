"""Data migration: the ``accounts.suspend_user`` permission and the ``moderators`` group with
exactly the permissions moderators need (the same list as
``posts.moderation.MODERATOR_PERMISSIONS``, frozen here as migrations must be).

Django creates model permissions in a ``post_migrate`` handler, i.e. after ALL migrations ran,
so on a fresh database they do not exist yet when this migration runs: it calls
``create_permissions`` for the involved apps first (idempotent: it skips existing rows).
``manage.py setup_moderators`` re-applies the same state later and can add users.
"""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "moderators"
PERMISSIONS = (
    ("posts", "view_post"),
    ("posts", "change_post"),
    ("posts", "view_comment"),
    ("posts", "view_report"),
    ("posts", "change_report"),
    ("posts", "view_moderationaction"),
    ("accounts", "view_user"),
    ("accounts", "suspend_user"),
)


def create_moderators_group(apps, schema_editor):
    db = schema_editor.connection.alias
    for label in ("accounts", "posts"):
        app_config = apps.get_app_config(label)
        # Historical app configs have no models module; create_permissions skips those.
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, interactive=False, using=db, apps=apps)
        app_config.models_module = None
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    user_label, user_model = settings.AUTH_USER_MODEL.split(".")
    user_type, _ = ContentType.objects.db_manager(db).get_or_create(app_label=user_label, model=user_model.lower())
    Permission.objects.db_manager(db).get_or_create(
        content_type=user_type, codename="suspend_user", defaults={"name": "Can suspend and unsuspend users"}
    )
    permissions = [
        Permission.objects.db_manager(db).get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in PERMISSIONS
    ]
    group, _ = Group.objects.db_manager(db).get_or_create(name=GROUP)
    group.permissions.set(permissions)


def delete_moderators_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("posts", "0002_moderationaction"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_moderators_group, delete_moderators_group)]
