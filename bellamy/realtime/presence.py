"""Presence: which users have at least one open socket, kept in Redis with expiry.

Layout (Redis backend), for ``P = <BELLAMY_KEY_PREFIX>:presence``:

- ``P:conns:<user id>`` — sorted set of that user's socket channel names, score = the Unix
  time (seconds) at which the socket counts as gone unless it heartbeats again;
- ``P:online`` — sorted set of user ids, score = the latest expiry of any of their sockets.

Several tabs count once (one member of ``P:online``). A server that crashes stops
heartbeating, so its sockets expire after :data:`PRESENCE_TTL` seconds instead of leaving
users online forever. :meth:`RedisPresence.online` answers a whole batch in one round trip
(``ZMSCORE``). Without ``REDIS_URL`` (the embedded default, one process) the same contract
is kept in memory.

The web process's consumers do not call the synchronous methods: they queue the same commands
on the channel layer's asyncio pipeline (:meth:`RedisPresence.queue_touch`,
:meth:`RedisPresence.aremove`), so a socket's connect, heartbeat and close each cost one round
trip and no thread hop (``bellamy.realtime.sessions``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import redis
from django.conf import settings

#: Seconds a socket stays "present" after its last heartbeat.
PRESENCE_TTL = 90
#: Seconds between a consumer's heartbeats (well under the TTL).
HEARTBEAT_INTERVAL = 30
#: Redis connections of a process's synchronous presence client.
PRESENCE_CONNECTIONS = 8


class MemoryPresence:
    """In-process presence for the embedded default (one web process)."""

    def __init__(self):
        self._conns: dict[int, dict[str, float]] = {}
        self._lock = threading.Lock()

    def touch(self, user_id: int, channel_name: str, *, now: float | None = None) -> None:
        """Record (or refresh) socket ``channel_name`` of ``user_id`` for :data:`PRESENCE_TTL` s."""
        now = time.time() if now is None else now
        with self._lock:
            self._conns.setdefault(user_id, {})[channel_name] = now + PRESENCE_TTL

    def remove(self, user_id: int, channel_name: str) -> None:
        """Forget one socket of ``user_id``; the user stays online while another is open."""
        with self._lock:
            conns = self._conns.get(user_id, {})
            conns.pop(channel_name, None)
            if not conns:
                self._conns.pop(user_id, None)

    def online(self, user_ids: Iterable[int], *, now: float | None = None) -> set[int]:
        """The subset of ``user_ids`` with at least one unexpired socket."""
        now = time.time() if now is None else now
        with self._lock:
            return {u for u in user_ids if any(exp > now for exp in self._conns.get(u, {}).values())}

    def clear(self) -> None:
        """Forget everyone (tests)."""
        with self._lock:
            self._conns.clear()

    def forget(self, user_id: int) -> None:
        """Forget every socket of ``user_id`` (an erased account)."""
        with self._lock:
            self._conns.pop(user_id, None)


class RedisPresence:
    """Presence in Redis (shared by every web process).

    Args:
        url: the Redis URL (``REDIS_URL``).
        prefix: key prefix (``<BELLAMY_KEY_PREFIX>:presence``).
    """

    def __init__(self, *, url: str, prefix: str):
        # Bounded and blocking: threads wait for a free connection instead of opening more
        # (redis-py's default pool refuses beyond 100 with "Too many connections").
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=PRESENCE_CONNECTIONS, timeout=5,
                                                     socket_timeout=2, socket_connect_timeout=2)
        self.client = redis.Redis(connection_pool=pool)
        self.prefix = prefix

    def _conns_key(self, user_id: int) -> str:
        return f"{self.prefix}:conns:{user_id}"

    @property
    def _online_key(self) -> str:
        return f"{self.prefix}:online"

    def touch(self, user_id: int, channel_name: str, *, now: float | None = None) -> None:
        """Record (or refresh) one socket; one pipelined round trip."""
        pipe = self.client.pipeline()
        self.queue_touch(pipe, user_id, channel_name, now=now)
        pipe.execute()

    def queue_touch(self, pipe, user_id: int, channel_name: str, *, now: float | None = None) -> None:
        """Queue the commands of :meth:`touch` on ``pipe`` (a redis-py pipeline, synchronous or
        asyncio, on the same Redis), so callers can refresh many sockets in one round trip."""
        expires = (time.time() if now is None else now) + PRESENCE_TTL
        pipe.zadd(self._conns_key(user_id), {channel_name: expires})
        pipe.expire(self._conns_key(user_id), PRESENCE_TTL * 2)
        pipe.zadd(self._online_key, {str(user_id): expires}, gt=True)
        pipe.zadd(self._online_key, {str(user_id): expires}, nx=True)

    def _queue_remove(self, pipe, user_id: int, channel_name: str, now: float | None):
        now = time.time() if now is None else now
        key = self._conns_key(user_id)
        pipe.zrem(key, channel_name)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zrange(key, -1, -1, withscores=True)

    def remove(self, user_id: int, channel_name: str, *, now: float | None = None) -> None:
        """Forget one socket; the user's online score falls to their latest remaining socket."""
        pipe = self.client.pipeline()
        self._queue_remove(pipe, user_id, channel_name, now)
        _, _, latest = pipe.execute()
        if latest:
            self.client.zadd(self._online_key, {str(user_id): latest[0][1]}, xx=True)
        else:
            self.client.zrem(self._online_key, str(user_id))

    async def aremove(self, client, user_id: int, channel_name: str, *, now: float | None = None) -> None:
        """:meth:`remove` on ``client`` (a ``redis.asyncio.Redis`` on the same server)."""
        pipe = client.pipeline()
        self._queue_remove(pipe, user_id, channel_name, now)
        _, _, latest = await pipe.execute()
        if latest:
            await client.zadd(self._online_key, {str(user_id): latest[0][1]}, xx=True)
        else:
            await client.zrem(self._online_key, str(user_id))

    def online(self, user_ids: Iterable[int], *, now: float | None = None) -> set[int]:
        """The subset of ``user_ids`` with an unexpired socket, in one ``ZMSCORE`` round trip."""
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return set()
        now = time.time() if now is None else now
        scores = self.client.zmscore(self._online_key, [str(u) for u in ids])
        return {u for u, score in zip(ids, scores, strict=True) if score is not None and score > now}

    def clear(self) -> None:
        """Delete every presence key of this prefix (tests)."""
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if keys:
            self.client.delete(*keys)

    def forget(self, user_id: int) -> None:
        """Forget every socket of ``user_id`` (an erased account): its sockets key and its
        member of the online set, in one round trip."""
        pipe = self.client.pipeline()
        pipe.delete(self._conns_key(user_id))
        pipe.zrem(self._online_key, str(user_id))
        pipe.execute()


_presence: MemoryPresence | RedisPresence | None = None
_lock = threading.Lock()


def get_presence() -> MemoryPresence | RedisPresence:
    """The process's presence backend: Redis when ``REDIS_URL`` is set, else memory."""
    global _presence
    with _lock:
        if _presence is None:
            if settings.REDIS_URL:
                _presence = RedisPresence(url=settings.REDIS_URL, prefix=f"{settings.BELLAMY_KEY_PREFIX}:presence")
            else:
                _presence = MemoryPresence()
        return _presence


def reset_presence() -> None:
    """Drop the cached backend (tests that change ``REDIS_URL``)."""
    global _presence
    with _lock:
        _presence = None
