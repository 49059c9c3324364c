"""Helpers of the moderation tests: events published and audit rows, as plain values."""

from __future__ import annotations

from bellamy.events.models import OutboxEvent
from moderation.models import ModerationAction


def events() -> list[tuple[str, str, int | None, dict]]:
    """Every published event as ``(type, key, actor_id, data)``, in publication order."""
    return [
        (row.type, row.key, row.payload["actor_id"], row.payload["data"]) for row in OutboxEvent.objects.order_by("id")
    ]


def audit() -> list[tuple]:
    """Every audit row as ``(moderator_id, action, post_id, report_id, target_user_id, reason)``, oldest first."""
    return list(
        ModerationAction.objects.order_by("id").values_list(
            "moderator_id", "action", "post_id", "report_id", "target_user_id", "reason"
        )
    )
