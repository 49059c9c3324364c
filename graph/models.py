"""The social graph's source of truth: friend requests, friendships and blocks (PostgreSQL).

Invariants kept by database constraints (so they hold under concurrent requests):

* at most one *pending* :class:`FriendRequest` per unordered pair of users, whatever its
  direction (a partial unique index on ``(least(from, to), greatest(from, to))``);
* one :class:`Friendship` row per pair, stored canonically as ``user_low_id < user_high_id``;
* one :class:`Block` per ``(blocker, blocked)``; nobody requests, befriends or blocks themself.

Writes go through :mod:`graph.services`; reads through :mod:`graph.selectors`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least


class FriendRequest(models.Model):
    """A request from ``from_user`` to become friends with ``to_user``.

    Lifecycle: ``pending`` → ``accepted`` / ``declined`` (by the recipient) or ``cancelled``
    (by the sender, or by a block between the two). ``responded_at`` is set on leaving
    ``pending``. Finished requests are kept as history; only a pending one blocks a new request.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        CANCELLED = "cancelled", "Cancelled"

    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="friend_requests_sent"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="friend_requests_received"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_user=F("to_user")), name="graph_friendrequest_not_self"
            ),
            models.UniqueConstraint(
                Least("from_user", "to_user"),
                Greatest("from_user", "to_user"),
                condition=Q(status="pending"),
                name="graph_friendrequest_one_pending_per_pair",
            ),
        ]
        indexes = [
            # Pending incoming / outgoing lists, newest first (the only lists we serve).
            models.Index(
                fields=["to_user", "-created_at", "-id"],
                condition=Q(status="pending"),
                name="graph_fr_incoming_pending",
            ),
            models.Index(
                fields=["from_user", "-created_at", "-id"],
                condition=Q(status="pending"),
                name="graph_fr_outgoing_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_user_id} → {self.to_user_id} ({self.status})"


class Friendship(models.Model):
    """Two users are friends. Symmetric: one row per pair with ``user_low_id < user_high_id``.

    Look-ups by either side are indexed: the unique constraint's index leads with
    ``user_low`` and a separate index covers ``user_high``.
    """

    user_low = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    user_high = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user_low__lt=F("user_high")), name="graph_friendship_low_lt_high"
            ),
            models.UniqueConstraint(fields=["user_low", "user_high"], name="graph_friendship_unique_pair"),
        ]
        indexes = [models.Index(fields=["user_high"], name="graph_friendship_user_high")]

    def __str__(self) -> str:
        return f"{self.user_low_id} ↔ {self.user_high_id}"

    def other_id(self, user_id: int) -> int:
        """Return the id of the friend of ``user_id`` in this pair."""
        return self.user_high_id if self.user_low_id == user_id else self.user_low_id


class Block(models.Model):
    """``blocker`` blocked ``blocked``: the two no longer see each other (blocks hide both ways)."""

    blocker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_made"
    )
    blocked = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_received"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="graph_block_not_self"),
            models.UniqueConstraint(fields=["blocker", "blocked"], name="graph_block_unique_pair"),
        ]
        indexes = [models.Index(fields=["blocked"], name="graph_block_blocked")]

    def __str__(self) -> str:
        return f"{self.blocker_id} ⊘ {self.blocked_id}"

from graph.projection import *  # noqa: E402,F401,F403  graph worker: the ORM store tables
