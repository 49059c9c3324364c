"""The open sockets of this process: registration, presence and the heartbeat.

A socket is *registered* when it is accepted (channel-layer group ``user.<id>`` + presence)
and *unregistered* when it closes. Every :data:`~bellamy.realtime.presence.HEARTBEAT_INTERVAL`
seconds one task per event loop refreshes the group membership and presence of every socket
of that loop in one pipelined round trip, so an idle socket stays a member of its group (which
expires after ``group_expiry`` without refresh) and its user stays online (presence expires
after :data:`~bellamy.realtime.presence.PRESENCE_TTL`), while the sockets of a crashed
process stop counting within that time. A failed refresh is logged and retried at the next
beat; it never closes a socket.

On the production stack (:class:`~bellamy.realtime.layers.RealtimeChannelLayer` and Redis
presence) registration, heartbeat and unregistration each cost one round trip on the channel
layer's bounded pool; on the embedded default (in-memory layer and presence) they are direct
calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from bellamy.realtime.layers import RealtimeChannelLayer
from bellamy.realtime.presence import HEARTBEAT_INTERVAL, RedisPresence, get_presence

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    """The channel-layer group of one user's sockets: ``user.<id>``."""
    return f"user.{user_id}"


class LocalSockets:
    """The sockets of one event loop: ``channel name → user id``, and their heartbeat task."""

    def __init__(self):
        self.sockets: dict[str, int] = {}
        self.task: asyncio.Task | None = None

    async def register(self, layer, user_id: int, channel_name: str) -> None:
        """Join ``user.<id>`` and mark the user present (one round trip), then heartbeat it."""
        self.sockets[channel_name] = user_id
        await _refresh(layer, [(user_id, channel_name)])
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._beat(layer))

    async def unregister(self, layer, user_id: int, channel_name: str) -> None:
        """Leave the group and presence; stop the heartbeat when no socket is left."""
        self.sockets.pop(channel_name, None)
        if not self.sockets and self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        await layer.group_discard(user_group(user_id), channel_name)
        presence = get_presence()
        if isinstance(presence, RedisPresence) and isinstance(layer, RealtimeChannelLayer):
            await presence.aremove(layer.connection(0), user_id, channel_name)
        else:
            presence.remove(user_id, channel_name)

    async def _beat(self, layer) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            pairs = [(user_id, channel) for channel, user_id in self.sockets.items()]
            try:
                await _refresh(layer, pairs)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Presence and membership outlive two missed beats; try again at the next one.
                logger.exception("realtime: heartbeat of %d socket(s) failed", len(pairs))


async def _refresh(layer, pairs: list[tuple[int, str]]) -> None:
    """Add or refresh ``(user id, channel)``: group membership and presence."""
    if not pairs:
        return
    presence = get_presence()
    if isinstance(layer, RealtimeChannelLayer) and isinstance(presence, RedisPresence):
        pipe = layer.connection(0).pipeline(transaction=False)
        layer.queue_group_add(pipe, [(user_group(user_id), channel) for user_id, channel in pairs])
        for user_id, channel in pairs:
            presence.queue_touch(pipe, user_id, channel)
        await pipe.execute()
        return
    for user_id, channel in pairs:
        await layer.group_add(user_group(user_id), channel)
        presence.touch(user_id, channel)


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LocalSockets] = weakref.WeakKeyDictionary()


def local_sockets() -> LocalSockets:
    """The registry of the running event loop."""
    loop = asyncio.get_running_loop()
    registry = _registries.get(loop)
    if registry is None:
        registry = _registries[loop] = LocalSockets()
    return registry
