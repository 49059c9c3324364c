"""Tables of the event backbone: the transactional outbox and the idempotency records."""

from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    """One published event waiting to be (or already) sent to the event bus.

    Written by :func:`bellamy.events.services.publish` inside the caller's transaction, so an
    event exists if and only if the change that caused it was committed. The relay sends rows
    oldest first per key and sets ``sent_at``; sent rows are pruned after
    ``BELLAMY_OUTBOX_RETENTION_HOURS``.
    """

    event_id = models.UUIDField(unique=True)
    type = models.CharField(max_length=100)
    key = models.CharField(max_length=200)
    payload = models.JSONField(help_text="The whole envelope as a dict.")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ("id",)
        indexes = [
            # The relay's scan: unsent rows in id order, and "is an older row of this key unsent?".
            models.Index(fields=["id"], name="events_outbox_unsent", condition=Q(sent_at__isnull=True)),
            models.Index(fields=["key", "id"], name="events_outbox_unsent_key", condition=Q(sent_at__isnull=True)),
            models.Index(fields=["sent_at"], name="events_outbox_sent_at", condition=Q(sent_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id} ({'sent' if self.sent_at else 'unsent'})"


class ProcessedEvent(models.Model):
    """Marks that task ``task_name`` has handled event ``event_id`` (at-least-once → once)."""

    event_id = models.UUIDField()
    task_name = models.CharField(max_length=200)
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_id", "task_name"], name="events_processed_once"),
        ]
        indexes = [models.Index(fields=["processed_at"], name="events_processed_at")]

    def __str__(self) -> str:
        return f"{self.task_name} ← {self.event_id}"


class DeadLetter(models.Model):
    """A batch an event task could not handle: kept with the reason, for an operator to replay.

    Written by :func:`bellamy.events.services.dead_letter_record` when a task's batch failed with a
    non-transient error (isolated down to the failing events), or kept failing with transient
    errors for longer than ``BELLAMY_TASK_RETRY_BUDGET``. Nothing of the batch was applied (its
    transaction rolled back), so replaying it (``manage.py events_dead_letters --replay``) hands
    it to its task again; events already handled since are skipped by their idempotency records.
    """

    task_name = models.CharField(max_length=200)
    queue = models.CharField(max_length=100, blank=True)
    payload = models.JSONField(help_text="The batch as the task received it: a list of envelope dicts.")
    event_count = models.PositiveIntegerField()
    digest = models.CharField(max_length=64, help_text="sha256 of the task name and the batch's event ids.")
    reason = models.TextField(help_text="The last error: exception type and message.")
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(help_text="Runs of the batch before it was given up.")
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    replayed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            # One pending dead letter per batch: a redelivered copy that fails too updates it.
            models.UniqueConstraint(fields=["task_name", "digest"], condition=Q(replayed_at__isnull=True),
                                    name="events_dead_letter_pending_once"),
        ]
        indexes = [
            models.Index(fields=["last_failed_at"], name="events_dead_letter_failed_at"),
        ]

    def __str__(self) -> str:
        state = "replayed" if self.replayed_at else "pending"
        return f"{self.task_name}: {self.event_count} event(s), {state} ({self.reason[:60]})"
