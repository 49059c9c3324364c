"""The embedded-default notification store's table (``notifications.stores.orm``).

Recipients and actors are plain user ids, not foreign keys: the store is a projection that
behaves the same in the relational database and in MongoDB (``delete_user`` forgets a user
in both), and the workers may write it for users of another database shard.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from notifications.stores import base


class Notification(models.Model):
    """One notification of one recipient (grouped ones carry several actors and events).

    Constraints: one row per ``(event_id, recipient_id)`` and, for grouped rows, one per
    ``(group_key, recipient_id)``. The listing index serves ``list_for`` newest first.
    """

    class Type(models.TextChoices):
        FRIEND_REQUEST = base.FRIEND_REQUEST, "Friend request"
        FRIEND_ACCEPTED = base.FRIEND_ACCEPTED, "Friend accepted"
        FRIEND_POSTED = base.FRIEND_POSTED, "Friend posted"
        POST_LIKED = base.POST_LIKED, "Post liked"
        POST_COMMENTED = base.POST_COMMENTED, "Post commented"
        MENTIONED = base.MENTIONED, "Mentioned"
        EXPORT_READY = base.EXPORT_READY, "Export ready"

    recipient_id = models.BigIntegerField(help_text="User id of who is notified.")
    type = models.CharField(max_length=32, choices=Type.choices)
    actors = models.JSONField(default=list, help_text="Actor user ids, most recent first.")
    actor_count = models.PositiveIntegerField(default=1)
    post_id = models.BigIntegerField(null=True, blank=True)
    comment_id = models.BigIntegerField(null=True, blank=True)
    group_key = models.CharField(max_length=200, null=True, blank=True)
    event_id = models.CharField(max_length=64, help_text="The first event's id.")
    event_ids = models.JSONField(default=list, help_text="Every event id applied, oldest first.")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_id", "recipient_id"], name="notif_event_recipient_unique"),
            models.UniqueConstraint(
                fields=["group_key", "recipient_id"],
                condition=Q(group_key__isnull=False),
                name="notif_group_recipient_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["recipient_id", "-updated_at", "-id"], name="notif_listing"),
            # Unread listing (keyset on the same columns) and the unread count.
            models.Index(fields=["recipient_id", "-updated_at", "-id"], condition=Q(read_at__isnull=True),
                         name="notif_unread_listing"),
            models.Index(fields=["post_id"], name="notif_post"),
            models.Index(fields=["created_at"], name="notif_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type} for user {self.recipient_id} ({self.actor_count} actor(s))"
