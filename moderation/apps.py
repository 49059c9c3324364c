from django.apps import AppConfig


class ModerationConfig(AppConfig):
    """``moderation``: the audit log, the ``moderators`` group, the moderation services and the
    admin actions (middle floor: it reads ``posts``, ``graph`` and ``accounts``; no domain
    imports it). Installed after ``accounts`` and ``posts``: its admin extends theirs."""

    name = "moderation"
    label = "moderation"
    verbose_name = "Moderation"
