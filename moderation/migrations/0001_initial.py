"""``ModerationAction``, moved here from the ``posts`` app (``posts/migrations/0004``).

State only: the table ``posts_moderationaction`` (created by ``posts/migrations/0002``) is
adopted as it is, with its indexes, constraint and rows; nothing is run on the database.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('posts', '0004_delete_moderationaction'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ModerationAction',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('action', models.CharField(choices=[('post_hide', 'Hide post'), ('post_remove', 'Remove post'), ('post_restore', 'Restore post'), ('report_resolve', 'Resolve report'), ('report_dismiss', 'Dismiss report'), ('user_suspend', 'Suspend user'), ('user_unsuspend', 'Unsuspend user')], max_length=20)),
                        ('reason', models.TextField(max_length=1000)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('moderator', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='moderation_actions', to=settings.AUTH_USER_MODEL)),
                        ('post', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='moderation_actions', to='posts.post')),
                        ('report', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='moderation_actions', to='posts.report')),
                        ('target_user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='moderation_actions_received', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'posts_moderationaction',
                        'ordering': ('-created_at', '-id'),
                        'indexes': [models.Index(fields=['-created_at', '-id'], name='posts_modaction_created'), models.Index(fields=['action', '-created_at'], name='posts_modaction_action')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('action__in', ['post_hide', 'post_remove', 'post_restore', 'report_resolve', 'report_dismiss', 'user_suspend', 'user_unsuspend'])), name='posts_modaction_action_valid')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
