"""Pushes to connected clients. Only services and tasks call these, after commit."""

from __future__ import annotations

from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from bellamy import metrics
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
    return push_messages([(user_id, message) for user_id in dict.fromkeys(user_ids)])


def push_messages(messages: Iterable[tuple[int, dict]]) -> int:
    """Send each ``(user id, message)`` to that user's open sockets, if they are online.

    One presence round trip and one pass through the event loop for the whole batch, so a
    worker pushing many different messages (one notification per recipient) pays once.

    Returns:
        The number of messages sent (those of offline users are dropped).
    """
    messages = list(messages)
    online = get_presence().online({user_id for user_id, _ in messages})
    pending = [(user_id, message) for user_id, message in messages if user_id in online]
    if pending:
        async_to_sync(_send_all)(get_channel_layer(), pending)
    metrics.pushes_sent(message.get("type", "") for _user_id, message in pending)
    metrics.pushes_offline(message.get("type", "") for user_id, message in messages if user_id not in online)
    return len(pending)


async def _send_all(layer, messages: list[tuple[int, dict]]) -> None:
    for user_id, message in messages:
        await layer.group_send(user_group(user_id), {"type": "push.message", "message": message})


def close_user_sockets(user_id: int) -> None:
    """Close every open socket of ``user_id`` (on logout) with code 4401."""
    async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": "session.close"})
