"""Formerly a data migration that created the ``moderators`` group from a frozen copy of its
permission list. The group now has one definition, ``moderation.services.MODERATOR_PERMISSIONS``,
applied after every ``migrate`` by the ``moderation`` app's ``post_migrate`` receiver
(``moderation.services.moderators_group_ensure``) and repaired by ``manage.py
setup_moderators``. Kept, empty, because databases have it recorded as applied and later
migrations depend on it.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("posts", "0002_moderationaction"),
    ]

    operations = []
