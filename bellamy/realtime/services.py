"""Pushes to connected clients. Only services and tasks call these, after commit."""

from __future__ import annotations

from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from bellamy.realtime.consumers import user_group
from bellamy.realtime.presence import get_presence


def push_to_users(user_ids: Iterable[int], message: dict) -> int:
    """Send ``message`` (``{"type", "data"?}``) to every open socket of each online user.

    Presence for the whole batch is read in one round trip; offline users cost nothing more.
    Call it after commit (from a service's ``transaction.on_commit`` or a task).

    Args:
        user_ids: recipients; users with no open socket receive nothing.
        message: JSON-compatible dict, delivered as-is.
    Returns:
        The number of online users sent to.
    """
    online = get_presence().online(user_ids)
    if not online:
        return 0
    layer = get_channel_layer()
    send = async_to_sync(_send_all)
    send(layer, sorted(online), {"type": "push.message", "message": message})
    return len(online)


async def _send_all(layer, user_ids: list[int], event: dict) -> None:
    for user_id in user_ids:
        await layer.group_send(user_group(user_id), event)


def close_user_sockets(user_id: int) -> None:
    """Close every open socket of ``user_id`` (on logout) with code 4401."""
    async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": "session.close"})
