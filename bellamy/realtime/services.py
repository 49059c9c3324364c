"""Pushes to connected clients. Only services and tasks call these, after commit."""

from __future__ import annotations

from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from bellamy.realtime.consumers import user_group


def push_to_users(user_ids: Iterable[int], message: dict) -> int:
    """Send ``message`` (``{"type", "data"?}``) to every open socket of each user.

    Args:
        user_ids: recipients; users with no open socket receive nothing.
        message: JSON-compatible dict, delivered as-is.
    Returns:
        The number of user groups sent to.
    """
    layer = get_channel_layer()
    count = 0
    for user_id in dict.fromkeys(user_ids):
        async_to_sync(layer.group_send)(user_group(user_id), {"type": "push.message", "message": message})
        count += 1
    return count


def close_user_sockets(user_id: int) -> None:
    """Close every open socket of ``user_id`` (on logout) with code 4401."""
    async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": "session.close"})
