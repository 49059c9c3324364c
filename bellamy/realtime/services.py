"""Pushes to connected clients. Only services and tasks call these, after commit.

The push API takes batches: a worker task hands every ``(user id, message)`` it produced to
:func:`push_messages` in one call, which reaches all their online sockets in one batched
operation (one Redis round trip per 1,000 messages on the production stack; see
``bellamy.realtime.layers``). Each delivered frame carries ``seq``, the next number of the
recipient's frame counter, so a client can tell it missed one (README "Real time").
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from bellamy import metrics
from bellamy.realtime.layers import RealtimeChannelLayer
from bellamy.realtime.presence import get_presence
from bellamy.realtime.sessions import user_group

#: The channel-layer message type the consumer forwards (``UserConsumer.push_message``).
PUSH_TYPE = "push.message"


def push_to_users(user_ids: Iterable[int], message: dict) -> int:
    """Send ``message`` (``{"type", "data"?}``) to every open socket of each online user.

    Call it after commit (from a service's ``transaction.on_commit`` or a task). Blocking; from
    async code use ``sync_to_async``.

    Args:
        user_ids: recipients; users with no open socket receive nothing (a repeated id counts once).
        message: JSON-compatible dict, delivered as-is plus ``seq``.
    Returns:
        The number of users it reached (at least one socket's queue accepted it).
    """
    return push_messages([(user_id, message) for user_id in dict.fromkeys(user_ids)])


def push_messages(messages: Iterable[tuple[int, dict]]) -> int:
    """Send each ``(user id, message)`` to that user's open sockets, in one batched operation.

    The shape workers use for per-recipient messages (one notification object per recipient).
    A user may appear several times: their messages arrive in the order given, each with its
    own ``seq``. Messages of offline users cost nothing beyond the membership lookup.
    A frame that cannot be queued because the recipient's process inbox is full is dropped,
    counted (``bellamy.realtime.layers.dropped_frames``) and logged; the client sees the
    skipped ``seq`` and catches up from the REST API.

    Args:
        messages: ``(user id, {"type", "data"?})`` pairs, JSON-compatible.
    Returns:
        How many of the pairs reached at least one socket's process inbox (offline users' and
        dropped ones are not counted).
    Raises:
        redis.RedisError: Redis did not answer (the caller's task retries; nothing was
            half-sent in a way a retry would duplicate beyond the frames already queued).
    """
    items = [(user_group(user_id), {"type": PUSH_TYPE, "message": message}) for user_id, message in messages]
    if not items:
        return 0
    layer = get_channel_layer()
    if isinstance(layer, RealtimeChannelLayer):
        result = layer.group_send_many_sync(items, sequence=True)
        offline, lost = set(result.offline_items), set(result.dropped_items)
        _count(items, sent=[n for n in range(len(items)) if n not in offline and n not in lost], offline=offline)
        return result.delivered
    return _push_in_memory(layer, items)


def _count(items: list[tuple[str, dict]], *, sent, offline) -> None:
    """Metrics of one push: messages sent and not sent (offline), by message type (drops are
    counted by the layer, by reason)."""
    metrics.pushes_sent(items[n][1]["message"].get("type", "") for n in sent)
    metrics.pushes_offline(items[n][1]["message"].get("type", "") for n in offline)


def close_user_sockets(user_id: int) -> None:
    """Close every open socket of ``user_id`` (on logout) with code 4401."""
    layer = get_channel_layer()
    items = [(user_group(user_id), {"type": "session.close"})]
    if isinstance(layer, RealtimeChannelLayer):
        layer.group_send_many_sync(items)
    else:
        async_to_sync(layer.group_send)(*items[0])


# --- embedded default (in-memory channel layer, one process) ----------------------------------

_memory_seq: dict[str, int] = {}
_memory_seq_lock = threading.Lock()


def _push_in_memory(layer, items: list[tuple[str, dict]]) -> int:
    """The same contract on the in-memory layer: presence says who is online, each frame gets
    the group's next ``seq`` from a process-local counter."""
    online = get_presence().online({int(group.split(".", 1)[1]) for group, _ in items})
    pending, sent, offline = [], [], []
    with _memory_seq_lock:
        for n, (group, message) in enumerate(items):
            if int(group.split(".", 1)[1]) in online:
                _memory_seq[group] = _memory_seq.get(group, 0) + 1
                pending.append((group, {**message, "seq": _memory_seq[group]}))
                sent.append(n)
            else:
                offline.append(n)
    _count(items, sent=sent, offline=offline)
    if pending:
        async_to_sync(_send_all)(layer, pending)
    return len(pending)


async def _send_all(layer, items: list[tuple[str, dict]]) -> None:
    for group, message in items:
        await layer.group_send(group, message)
