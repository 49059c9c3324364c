"""``ModerationAction`` moved to the ``moderation`` app (``moderation/migrations/0001_initial``).

State only: the model leaves the ``posts`` app's state, while its table
``posts_moderationaction``, indexes, constraint and rows stay where they are — the
``moderation`` app's model keeps ``db_table = "posts_moderationaction"``.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('posts', '0003_moderators_group'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='ModerationAction',
                ),
            ],
            database_operations=[],
        ),
    ]
