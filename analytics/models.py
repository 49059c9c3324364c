"""The daily statistics table (one row per UTC day), written only by
:func:`analytics.services.analytics_rollup`.

Definitions (a "day" is a UTC calendar day, ``[00:00, 24:00)``):

- ``active_users``: distinct users who created a post, a like or a comment that day (soft-
  deleted posts and comments count: the activity happened; an undone like does not, its row
  is gone).
- ``new_users``: users whose ``date_joined`` falls on the day.
- ``posts`` / ``comments``: posts / comments created that day, including those later deleted
  or moderated.
- ``likes``: likes created that day that still exist (an unlike deletes the row).
- ``friendships``: friendships made that day (``graph.Friendship.created_at``) that still
  exist.
- ``notifications_sent``: notifications created that day still in the configured
  notification store (grouped likes/comments are one notification per recipient); ``None``
  when the configured store offers no way to count them.
- ``events_processed``: distinct event ids handled by at least one task that day
  (``bellamy.events.models.ProcessedEvent``).

Sources that are pruned (idempotency records after 7 days, notifications after their
retention) keep the stored value once the day is older than the retention, so a recompute
never erases history that only the rollup still remembers.
"""

from django.db import models
from django.utils import timezone

#: The metric fields, in display order.
METRICS = (
    "active_users",
    "new_users",
    "posts",
    "likes",
    "comments",
    "friendships",
    "notifications_sent",
    "events_processed",
)


class DailyStats(models.Model):
    """Activity counts of one UTC day (definitions in the module docstring)."""

    day = models.DateField(unique=True)
    active_users = models.PositiveIntegerField(default=0)
    new_users = models.PositiveIntegerField(default=0)
    posts = models.PositiveIntegerField(default=0)
    likes = models.PositiveIntegerField(default=0)
    comments = models.PositiveIntegerField(default=0)
    friendships = models.PositiveIntegerField(default=0)
    notifications_sent = models.PositiveIntegerField(
        null=True, blank=True, help_text="None: the configured notification store cannot count them."
    )
    events_processed = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("day",)
        verbose_name = "daily statistics"
        verbose_name_plural = "daily statistics"

    def __str__(self) -> str:
        return f"Statistics of {self.day.isoformat()}"

    def metrics(self) -> dict[str, int | None]:
        """``{metric: value}`` for every field of :data:`METRICS`."""
        return {name: getattr(self, name) for name in METRICS}
