"""Tables of the ORM graph store (:class:`graph.stores.orm.OrmGraphStore`).

A *derived, rebuildable projection* of :mod:`graph.models` (the source of truth) plus the
interaction weights. Plain integer user ids, no foreign keys: the projection may hold ids the
source no longer has until a backfill, and a rebuild never touches the user table. Read and
written only through the store; ``manage.py graph_backfill`` rebuilds them.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class FriendEdge(models.Model):
    """An undirected friend edge of the projection, stored once as ``user_low_id < user_high_id``.

    Indexed both ways: the unique constraint leads with ``user_low_id``; a second index covers
    ``(user_high_id, user_low_id)`` so both sides of the friends-of-friends join are index-only.
    """

    user_low_id = models.BigIntegerField()
    user_high_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user_low_id__lt=F("user_high_id")), name="graph_friendedge_low_lt_high"
            ),
            models.UniqueConstraint(fields=["user_low_id", "user_high_id"], name="graph_friendedge_unique"),
        ]
        indexes = [models.Index(fields=["user_high_id", "user_low_id"], name="graph_friendedge_high_low")]

    def __str__(self) -> str:
        return f"{self.user_low_id} — {self.user_high_id}"


class Interaction(models.Model):
    """A directed interaction weight ``from → to`` as of ``updated_at`` (decay applies on read:
    see :mod:`graph.stores.base`)."""

    from_user_id = models.BigIntegerField()
    to_user_id = models.BigIntegerField()
    weight = models.FloatField(default=0.0)
    updated_at = models.DateTimeField()
    #: ``updated_at`` as integer microseconds since the Unix epoch: the exact clock the SQL
    #: decay arithmetic uses (portable to SQLite, and the same integers Neo4j stores).
    updated_us = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_user_id=F("to_user_id")), name="graph_interaction_not_self"
            ),
            models.CheckConstraint(condition=Q(weight__gte=0), name="graph_interaction_weight_gte_0"),
            models.UniqueConstraint(fields=["from_user_id", "to_user_id"], name="graph_interaction_unique"),
        ]
        indexes = [models.Index(fields=["to_user_id"], name="graph_interaction_to")]

    def __str__(self) -> str:
        return f"{self.from_user_id} → {self.to_user_id}: {self.weight}"


class AppliedEvent(models.Model):
    """An event whose weight changes the ORM store applied (:meth:`OrmGraphStore.apply_interactions`),
    with the steps it produced, so a redelivered event changes nothing and gets its steps back.

    Written in the same transaction as the weights; pruned after
    :data:`graph.stores.base.APPLIED_RETENTION` by ``graph.prune_applied_events_task``.
    """

    event_id = models.CharField(max_length=64, primary_key=True)
    #: ``[[from_id, to_id, before, after], ...]`` (:func:`graph.stores.base.steps_to_json`).
    steps = models.JSONField(default=list)
    applied_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"applied {self.event_id}"
