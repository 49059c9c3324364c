from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ModerationConfig(AppConfig):
    """``moderation``: the audit log, the ``moderators`` group, the moderation services and the
    admin actions (middle floor: it reads ``posts``, ``graph`` and ``accounts``; no domain
    imports it). Installed after ``accounts`` and ``posts``: its ``post_migrate`` receiver needs
    their permissions, and its admin extends theirs."""

    name = "moderation"
    label = "moderation"
    verbose_name = "Moderation"

    def ready(self):
        from moderation.services import moderators_group_ensure

        # One definition of the group (moderation.services.MODERATOR_PERMISSIONS), applied
        # after every migrate like Django's own permissions, instead of a frozen copy in a
        # data migration.
        post_migrate.connect(moderators_group_ensure, sender=self, dispatch_uid="moderation.moderators_group_ensure")
