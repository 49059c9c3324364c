"""The moderation audit log (the ``moderation`` app).

:class:`ModerationAction` was ``posts.ModerationAction``; it moved here with state-only
migrations (``posts/migrations/0004``, ``moderation/migrations/0001``), so its table
``posts_moderationaction`` and every row in it are unchanged.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

#: Longest reason a moderator gives for an action (the audit log).
MODERATION_REASON_MAX_LENGTH = 1000


class ModerationAction(models.Model):
    """The audit log: one row per moderation action that changed something (who, what, when,
    why). Written only by :mod:`moderation.services`; read-only in the admin. A repeated action
    that changes nothing records no row.

    ``post``, ``report`` and ``target_user`` name the subject (a post action also names the
    post's author as ``target_user``); the foreign keys are ``SET_NULL`` so the log outlives
    its subjects and the moderator's account: when an account is erased its rows stay,
    anonymised (``target_user`` or ``moderator`` cleared).
    """

    class Action(models.TextChoices):
        POST_HIDE = "post_hide", "Hide post"
        POST_REMOVE = "post_remove", "Remove post"
        POST_RESTORE = "post_restore", "Restore post"
        REPORT_RESOLVE = "report_resolve", "Resolve report"
        REPORT_DISMISS = "report_dismiss", "Dismiss report"
        USER_SUSPEND = "user_suspend", "Suspend user"
        USER_UNSUSPEND = "user_unsuspend", "Unsuspend user"
        USER_DEACTIVATE = "user_deactivate", "Deactivate account"
        USER_REACTIVATE = "user_reactivate", "Reactivate account"
        USER_DELETE = "user_delete", "Delete account"

    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="moderation_actions",
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    post = models.ForeignKey(
        "posts.Post", on_delete=models.SET_NULL, null=True, blank=True, related_name="moderation_actions"
    )
    report = models.ForeignKey(
        "posts.Report", on_delete=models.SET_NULL, null=True, blank=True, related_name="moderation_actions"
    )
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="moderation_actions_received",
    )
    reason = models.TextField(max_length=MODERATION_REASON_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The table, index and constraint names are those the model had in the posts app:
        # it moved here with state-only migrations, and the database kept its table and rows.
        db_table = "posts_moderationaction"
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="posts_modaction_created"),
            models.Index(fields=["action", "-created_at"], name="posts_modaction_action"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    action__in=[
                        "post_hide", "post_remove", "post_restore", "report_resolve",
                        "report_dismiss", "user_suspend", "user_unsuspend",
                        "user_deactivate", "user_reactivate", "user_delete",
                    ]
                ),
                name="posts_modaction_action_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.moderator_id} at {self.created_at:%Y-%m-%d %H:%M}"
