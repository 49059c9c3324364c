"""The channel layer of the production stack: channels-redis, built for crowds, never dropping silently.

:class:`RealtimeChannelLayer` subclasses ``channels_redis.core.RedisChannelLayer`` (same group
and inbox keys, same serializer; inbox entries get a header, so every process of a deployment
runs this layer) and changes what broke under load (issue 21; read ``channels_redis/core.py``
4.3.0 next to this file):

**Where messages wait.** channels-redis gives every process one Redis sorted set, its *inbox*
(``<prefix>specific.<process id>!``): the messages of every socket of that process wait there,
and ``capacity`` (default 100) bounds the whole inbox, not one socket. A post to 300 friends on
one web process overflowed it. Here the inbox capacity is sized for a process's crowd
(``capacity``, default 10,000 frames), and each socket has its own bounded queue in the process
(``socket_capacity``, default 100 frames) that only fills when that socket's client stops
reading (with an ASGI server whose ``send`` waits for the client, e.g. uvicorn).

**Counted, visible drops.** channels-redis drops a message for a full channel with an INFO log
line and nothing else. Here every frame that is not delivered is counted, by reason, in the
Redis hash ``<prefix>:realtime:dropped`` (fields below, :func:`dropped_frames` reads them; the
metrics endpoint exports them) and logged at WARNING with the count and the groups:

- ``inbox_full`` — the recipient process's inbox held ``capacity`` frames (counted by the
  sender, atomically with the refusal, in the same Lua script);
- ``expired`` — a frame waited longer than ``expiry`` seconds in an inbox nobody read (a
  stalled or dead process), removed by the next send to that inbox;
- ``socket_full`` — the socket's queue in its process held ``socket_capacity`` frames.

A frame for a socket that has just closed is not a drop (there is no client left to miss it).

**One batched operation per fan-out.** ``group_send`` costs channels-redis four awaited round
trips per group. :meth:`group_send_many` (async) and :meth:`group_send_many_sync` (for Celery
workers, no event loop) send a whole batch of ``(group, message)`` in one round trip per
:data:`SEND_CHUNK` (1,000) messages: one Lua script reads each group's live members, appends
every frame to its process's inbox with the capacity check, the drop count and, when asked, a
per-group sequence number (``seq``, see below); Python serializes each message once and ships
the batch as one msgpack argument. Frames reach each inbox in the order they were sent. Inbox
reading is batched too: one reader task per event loop pops up to :data:`READ_BATCH` frames
per round trip (channels-redis: four round trips per frame) and hands
them to the sockets' queues; a socket's ``receive()`` only waits on its own queue, so a socket
that closes can never lose a frame another socket was waiting for.

**Bounded connections and honest timeouts.** redis-py 8 gives a client a 5 s socket timeout by
default, exactly channels-redis's blocking-read timeout (``BZPOPMIN`` for 5 s), so an idle
inbox read raised ``TimeoutError`` and Daphne closed a socket with 1011 every 5 s; and its
asyncio pool raises "Too many connections" beyond 100 connections instead of waiting. Here each
event loop (and each worker process, for the synchronous path) has one
``BlockingConnectionPool`` of ``pool_size`` connections that waits up to ``pool_timeout``
seconds for a free one, the socket timeout is ``brpop_timeout + 10`` seconds, TCP keepalive is
on and idle connections are health-checked; the reader survives Redis errors (logged, retried
with back-off) instead of killing a socket.

**Membership that expires.** A socket's group membership lives ``group_expiry`` seconds
(default 90, channels-redis: one day) unless refreshed; the consumer's heartbeat refreshes every
local socket in one pipeline (:meth:`queue_group_add`), so the sockets of a crashed process stop
receiving frames within 90 s instead of a day.

**Sequence numbers.** With ``sequence=True`` each ``(group, message)`` of a batch gets the next
number of that group's counter (``INCR <prefix>:realtime:seq:<group>``, kept
``sequence_ttl`` seconds after its last use), added to the message as ``"seq"`` when it is
received. A number is taken even when the frame is then dropped, so a client that sees a
number skipped knows it missed a frame (README "Real time").

One Redis host only (no sharding ring): the batch is one Lua script on one server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgpack
import redis
from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis

from bellamy import metrics

logger = logging.getLogger(__name__)

#: Frames popped from an inbox per round trip.
READ_BATCH = 500
#: ``(group, message)`` pairs per Lua call: Redis runs a script alone, so a huge fan-out is
#: cut into scripts of bounded length (a few milliseconds each) instead of one long pause.
SEND_CHUNK = 1000
#: Width of the decimal sequence number written in front of every inbox entry.
SEQ_WIDTH = 20
#: Reasons of :func:`dropped_frames`.
DROP_REASONS = ("inbox_full", "expired", "socket_full")

# One batched send, in one round trip. Inbox entries are ``<seq, 20 digits><local channel
# names, comma-separated>\n<serialized message>``: the script finds each group's live members,
# groups them by process inbox and writes the entry there, so Python serializes each message
# once whatever the number of recipients, and the whole batch travels as one msgpack argument
# (redis-py packs arguments one by one in Python). Every key is derived inside the script from
# the prefix (group, sequence and inbox keys), which is why the layer takes one Redis server.
# ARGV: now (integer microseconds), expiry, group expiry, sequence ttl, inbox ttl, capacity,
#       key prefix, drop hash key, msgpack([[group name, numbered 0/1, payload], ...]).
# Inbox scores are microseconds, strictly increasing per inbox (one more than the inbox's
# last score when the clock has not moved past it), so frames are read in the order they were
# appended even across batches sent within the same millisecond.
# Returns: {entries appended, dropped (inbox full), expired, offline items, index (1-based) of
#           each item that lost a frame, or minus the index of each item whose group had no
#           live socket...}.
_SEND_LUA = """
local now_us = tonumber(ARGV[1])
local now = now_us / 1000000
local expiry = tonumber(ARGV[2])
local group_expiry = tonumber(ARGV[3])
local seq_ttl = tonumber(ARGV[4])
local inbox_ttl = tonumber(ARGV[5])
local capacity = tonumber(ARGV[6])
local prefix = ARGV[7]
local drop_key = ARGV[8]
local items = cmsgpack.unpack(ARGV[9])
local targets = {}
local cleaned = {}
local last = {}
local appended, full, expired, offline = 0, 0, 0, 0
local dropped_items = {}
for i, item in ipairs(items) do
  local group, numbered, payload = item[1], item[2], item[3]
  local mine = targets[group]
  if mine == nil then
    local group_key = prefix .. ':group:' .. group
    redis.call('ZREMRANGEBYSCORE', group_key, '-inf', now - group_expiry)
    local by_inbox, order = {}, {}
    for _, member in ipairs(redis.call('ZRANGE', group_key, 0, -1)) do
      local bang = string.find(member, '!', 1, true)
      local inbox = prefix .. (bang and string.sub(member, 1, bang) or member)
      if by_inbox[inbox] == nil then
        by_inbox[inbox] = {}
        order[#order + 1] = inbox
      end
      table.insert(by_inbox[inbox], member)
    end
    mine = {}
    for _, inbox in ipairs(order) do mine[#mine + 1] = {inbox, table.concat(by_inbox[inbox], ',')} end
    targets[group] = mine
  end
  if #mine == 0 then
    offline = offline + 1
    dropped_items[#dropped_items + 1] = -i
  else
    local seq = 0
    if numbered == 1 then
      local seq_key = prefix .. ':realtime:seq:' .. group
      seq = redis.call('INCR', seq_key)
      redis.call('EXPIRE', seq_key, seq_ttl)
    end
    local head = string.format('%020d', seq)
    local lost = false
    for _, target in ipairs(mine) do
      local inbox = target[1]
      if not cleaned[inbox] then
        expired = expired + redis.call('ZREMRANGEBYSCORE', inbox, '-inf', now_us - expiry * 1000000)
        local top = redis.call('ZRANGE', inbox, -1, -1, 'WITHSCORES')
        last[inbox] = top[2] and tonumber(top[2]) or 0
        cleaned[inbox] = true
      end
      if redis.call('ZCARD', inbox) < capacity then
        local score = math.max(now_us, last[inbox] + 1)
        last[inbox] = score
        redis.call('ZADD', inbox, string.format('%d', score), head .. target[2] .. '\\n' .. payload)
        appended = appended + 1
      else
        full = full + 1
        lost = true
      end
    end
    if lost then dropped_items[#dropped_items + 1] = i end
  end
end
for inbox, _ in pairs(cleaned) do redis.call('EXPIRE', inbox, inbox_ttl) end
if full > 0 then redis.call('HINCRBY', drop_key, 'inbox_full', full) end
if expired > 0 then redis.call('HINCRBY', drop_key, 'expired', expired) end
local result = {appended, full, expired, offline}
for _, i in ipairs(dropped_items) do result[#result + 1] = i end
return result
"""

# ``send()`` to one process-local channel. KEYS: the inbox. ARGV: now (integer microseconds),
# expiry, inbox ttl, capacity, drop hash key, entry. Returns {refused (0/1), expired}.
_DIRECT_LUA = """
local now_us = tonumber(ARGV[1])
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_us - tonumber(ARGV[2]) * 1000000)
if expired > 0 then redis.call('HINCRBY', ARGV[5], 'expired', expired) end
local full = 0
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local score = math.max(now_us, (top[2] and tonumber(top[2]) or 0) + 1)
  redis.call('ZADD', KEYS[1], string.format('%d', score), ARGV[6])
else
  full = 1
  redis.call('HINCRBY', ARGV[5], 'inbox_full', 1)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {full, expired}
"""


@dataclass
class FanoutResult:
    """What one batch send did.

    Attributes:
        delivered: items (``(group, message)`` pairs) appended to the inbox of every live
            socket of their group.
        offline: items whose group had no live socket (nothing sent, nothing dropped).
        frames: inbox entries written (one per item and recipient process).
        dropped: inbox entries refused because the inbox was full.
        expired: stale entries removed from the recipients' inboxes by this send.
        dropped_groups: groups that lost at least one frame, once per item (for the log line).
        dropped_items: indices (0-based, in the batch) of the items that lost a frame.
        offline_items: indices (0-based, in the batch) of the items whose group was offline.
    """

    delivered: int = 0
    offline: int = 0
    frames: int = 0
    dropped: int = 0
    expired: int = 0
    dropped_groups: list[str] = field(default_factory=list)
    dropped_items: list[int] = field(default_factory=list)
    offline_items: list[int] = field(default_factory=list)

    def add(self, other: FanoutResult) -> None:
        self.delivered += other.delivered
        self.offline += other.offline
        self.frames += other.frames
        self.dropped += other.dropped
        self.expired += other.expired
        self.dropped_groups += other.dropped_groups
        self.dropped_items += other.dropped_items
        self.offline_items += other.offline_items


class SocketQueue(asyncio.Queue):
    """A socket's bounded queue of frames in its process: :meth:`offer` refuses instead of
    evicting (channels-redis evicts the oldest message silently)."""

    def offer(self, item) -> bool:
        """Put ``item`` unless the queue is full; return whether it was put."""
        if self.full():
            return False
        self.put_nowait(item)
        return True


class RealtimeChannelLayer(RedisChannelLayer):
    """channels-redis with crowd-sized inboxes, batched sends and reads, counted drops,
    bounded pools and per-group sequence numbers (module docstring).

    Args:
        hosts: one Redis URL in a list (``["redis://host:6379/0"]``).
        prefix: key prefix of every key (``<BELLAMY_KEY_PREFIX>:asgi``).
        capacity: frames one process's inbox may hold before sends to it are refused and
            counted (``inbox_full``).
        socket_capacity: frames one socket's queue may hold in its process before further
            frames for it are refused and counted (``socket_full``).
        expiry: seconds a frame may wait in an inbox (then removed and counted ``expired``).
        group_expiry: seconds a group membership lives unless refreshed by the heartbeat.
        pool_size: Redis connections per event loop (async) and per process (sync path).
        pool_timeout: seconds to wait for a free pooled connection before raising.
        sequence_ttl: seconds a group's sequence counter survives without use.
        **kwargs: passed to ``RedisChannelLayer`` (``symmetric_encryption_keys``, ...).
    Raises:
        ValueError: more than one host.
    """

    brpop_timeout = 5

    def __init__(
        self,
        hosts=None,
        prefix: str = "asgi",
        *,
        capacity: int = 10_000,
        socket_capacity: int = 100,
        expiry: int = 60,
        group_expiry: int = 90,
        pool_size: int = 16,
        pool_timeout: float = 10.0,
        sequence_ttl: int = 86_400,
        **kwargs,
    ):
        super().__init__(hosts=hosts, prefix=prefix, capacity=capacity, expiry=expiry,
                         group_expiry=group_expiry, **kwargs)
        if self.ring_size != 1:
            raise ValueError("RealtimeChannelLayer takes exactly one Redis host")
        self.socket_capacity = socket_capacity
        self.pool_size = pool_size
        self.pool_timeout = pool_timeout
        self.sequence_ttl = sequence_ttl
        self.drop_key = f"{prefix}:realtime:dropped"
        # Process-local channel → (its event loop, its queue); readers by event loop.
        self._queues: dict[str, tuple[asyncio.AbstractEventLoop, SocketQueue]] = {}
        self._readers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}
        self._sync_client: redis.Redis | None = None
        self._sync_lock = threading.Lock()
        self._background: set[asyncio.Task] = set()

    # --- connections ----------------------------------------------------------------------

    def _pool_options(self) -> dict:
        return {
            "max_connections": self.pool_size,
            "timeout": self.pool_timeout,
            # Longer than the blocking read, so an idle inbox read ends with Redis's empty
            # answer, never with a client-side TimeoutError (the 1011 closes of issue 21).
            "socket_timeout": self.brpop_timeout + 10,
            "socket_connect_timeout": 5,
            "socket_keepalive": True,
            "health_check_interval": 30,
        }

    def create_pool(self, index):
        """A bounded, blocking asyncio pool for this event loop (channels-redis calls this once
        per loop and host)."""
        host = self.hosts[index]
        if "address" not in host:
            return super().create_pool(index)
        return aioredis.BlockingConnectionPool.from_url(host["address"], **self._pool_options())

    def sync_client(self) -> redis.Redis:
        """The process's synchronous client (workers' sends), on a bounded blocking pool shared
        by the process's threads."""
        with self._sync_lock:
            if self._sync_client is None:
                host = self.hosts[0]
                if "address" not in host:
                    raise ValueError("the synchronous path needs a Redis URL host")
                pool = redis.BlockingConnectionPool.from_url(host["address"], **self._pool_options())
                self._sync_client = redis.Redis(connection_pool=pool)
            return self._sync_client

    # --- receiving ------------------------------------------------------------------------

    @property
    def inbox_key(self) -> str:
        """The Redis key of this process's inbox (channels-redis's naming)."""
        return f"{self.prefix}specific.{self.client_prefix}!"

    async def new_channel(self, prefix: str = "specific") -> str:
        """A new process-local channel with its bounded queue (``prefix`` is ignored: every
        local channel shares the process's inbox)."""
        name = f"specific.{self.client_prefix}!{uuid.uuid4().hex}"
        self._queue(name)
        return name

    def _queue(self, channel: str) -> SocketQueue:
        """The queue of ``channel`` in the running loop (made, or moved from a closed loop,
        when needed), with that loop's reader running."""
        loop = asyncio.get_running_loop()
        entry = self._queues.get(channel)
        if entry is None or entry[0] is not loop:
            entry = self._queues[channel] = (loop, SocketQueue(self.socket_capacity))
        reader = self._readers.get(loop)
        if reader is None or reader.done():
            # (A reader that ended on an unexpected error is replaced at the next socket.)
            self._start_reader(loop)
        return entry[1]

    def _start_reader(self, loop: asyncio.AbstractEventLoop) -> None:
        self.connection(0)  # channels-redis closes this loop's pool when the loop closes
        first = loop not in self._readers
        self._readers[loop] = asyncio.ensure_future(self._read_inbox())
        if not first:
            return
        original_close = loop.close

        def close(*args, **kwargs):
            # Forget the loop's reader and queues (tests run one loop after another).
            self._readers.pop(loop, None)
            for channel in [c for c, (owner, _q) in list(self._queues.items()) if owner is loop]:
                self._queues.pop(channel, None)
            return original_close(*args, **kwargs)

        loop.close = close

    async def receive(self, channel: str) -> dict:
        """The next message of ``channel``. Process-local channels wait on their own queue, fed
        by the reader; a cancelled receive forgets the channel (its socket is closing)."""
        if "!" not in channel:
            return await super().receive(channel)
        queue = self._queue(channel)
        try:
            return await queue.get()
        except asyncio.CancelledError:
            if self._queues.get(channel, (None, None))[1] is queue:
                self._queues.pop(channel, None)
            raise

    async def _read_inbox(self) -> None:
        """Pop frames from the process's inbox in batches and hand them to the sockets'
        queues, until the loop ends. Redis errors are logged and retried with back-off, so a
        Redis restart delays frames instead of closing sockets."""
        key = self.inbox_key
        backoff = 0.1
        task = asyncio.current_task()
        while True:
            # A cancellation that reaches redis-py 8.1 inside a command is not always re-raised
            # (seen in tests: the command returned, the task stayed "cancelling" and blocked
            # again in BZPOPMIN, hanging the event loop's shutdown, which waits for every
            # cancelled task). A reader asked to stop stops here.
            if task.cancelling():
                raise asyncio.CancelledError
            try:
                connection = self.connection(0)
                batch = await connection.zpopmin(key, READ_BATCH)
                if not batch:
                    popped = await connection.bzpopmin(key, timeout=self.brpop_timeout)
                    if popped is None:
                        continue
                    batch = [(popped[1], popped[2])]
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                logger.warning("realtime: reading inbox %s failed (%s); retrying in %.1f s", key, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self._deliver([member for member, _score in batch])

    def _deliver(self, members: list[bytes]) -> None:
        loop = asyncio.get_running_loop()
        full = 0
        for member in members:
            # <seq, 20 digits><local channel names, comma-separated>\n<serialized message>
            try:
                seq = int(member[:SEQ_WIDTH])
                newline = member.index(b"\n", SEQ_WIDTH)
                channels = member[SEQ_WIDTH:newline].decode().split(",")
                message = self.deserialize(member[newline + 1:])
            except Exception:  # noqa: BLE001 — the process's one reader must outlive a bad entry
                # Not ours (e.g. a process of the deployment still on plain channels-redis, which
                # writes no header) or corrupt: skip it, loudly, and deliver the rest.
                logger.exception("realtime: skipped an unreadable inbox entry of %d bytes in %s",
                                 len(member), self.inbox_key)
                continue
            if seq:
                message["seq"] = seq
            for channel in channels:
                entry = self._queues.get(channel)
                if entry is None:
                    continue  # the socket closed meanwhile: nobody is left to miss the frame
                owner, queue = entry
                if owner is loop:
                    full += not queue.offer(dict(message))
                elif not owner.is_closed():
                    # A socket of another event loop of this process (rare: tests).
                    owner.call_soon_threadsafe(self._offer_foreign, queue, dict(message))
        if full:
            self._socket_drops(full)

    def _offer_foreign(self, queue: SocketQueue, message: dict) -> None:
        if not queue.offer(message):
            self._socket_drops(1)

    def _socket_drops(self, count: int) -> None:
        logger.warning("realtime: dropped %d frame(s): socket queue full (capacity %d)", count, self.socket_capacity)
        metrics.push_dropped(count, reason="socket_full")
        task = asyncio.ensure_future(self._count_async("socket_full", count))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _count_async(self, reason: str, count: int) -> None:
        try:
            await self.connection(0).hincrby(self.drop_key, reason, count)
        except (redis.RedisError, OSError) as exc:
            logger.error("realtime: could not count %d dropped frame(s) (%s): %s", count, reason, exc)

    # --- groups ---------------------------------------------------------------------------

    def queue_group_add(self, pipe, pairs: Iterable[tuple[str, str]]) -> None:
        """Queue on ``pipe`` (a pipeline of :meth:`connection`) the commands adding or refreshing
        each ``(group, channel)`` membership for ``group_expiry`` seconds from now, so the
        heartbeat refreshes every socket of a process in one round trip."""
        now = time.time()
        for group, channel in pairs:
            key = self._group_key(group)
            pipe.zadd(key, {channel: now})
            pipe.expire(key, self.group_expiry)

    async def group_send(self, group: str, message: dict) -> None:
        """Send ``message`` to every live socket of ``group`` (one batch of one)."""
        await self.group_send_many([(group, message)])

    async def group_send_many(self, items: Sequence[tuple[str, dict]], *, sequence: bool = False) -> FanoutResult:
        """Send each ``(group, message)`` to that group's live sockets, in one round trip per
        :data:`SEND_CHUNK` items (one Lua script finds the members, checks each inbox's
        capacity, numbers and appends the frames, and counts the refusals).

        Args:
            items: ``(group name, channel-layer message dict)``; a group may repeat (its
                messages arrive in the order given).
            sequence: give each item the next ``seq`` of its group.
        Returns:
            What was delivered, offline and dropped (drops are also counted and logged).
        """
        result = FanoutResult()
        # redis-py's Script object runs EVALSHA and loads the script again after a Redis restart.
        script = self.connection(0).register_script(_SEND_LUA)
        for args, groups, offset in self._send_calls(items, sequence):
            result.add(_fanout_result(await script(args=args), groups, offset))
        self._log_drops(result)
        return result

    def group_send_many_sync(self, items: Sequence[tuple[str, dict]], *, sequence: bool = False) -> FanoutResult:
        """:meth:`group_send_many` for synchronous callers (Celery workers): the same round
        trips on the process's bounded synchronous pool, no event loop."""
        result = FanoutResult()
        script = self.sync_client().register_script(_SEND_LUA)
        for args, groups, offset in self._send_calls(items, sequence):
            result.add(_fanout_result(script(args=args), groups, offset))
        self._log_drops(result)
        return result

    def _send_calls(self, items: Sequence[tuple[str, dict]], sequence: bool):
        """``(args, group names, index of the first item)`` of each Lua call for ``items``,
        :data:`SEND_CHUNK` items per call; each message is serialized once."""
        items = list(items)
        now_us = time.time_ns() // 1000
        for start in range(0, len(items), SEND_CHUNK):
            chunk = items[start:start + SEND_CHUNK]
            batch = msgpack.packb([[group, 1 if sequence else 0, self.serialize(message)] for group, message in chunk],
                                  use_bin_type=False)
            args = [now_us, self.expiry, self.group_expiry, self.sequence_ttl,
                    # An inbox outlives its frames' expiry by a membership lifetime, so frames left
                    # in it are still there (and counted expired) when a send next reaches it.
                    self.expiry + self.group_expiry, self.capacity, self.prefix, self.drop_key, batch]
            yield args, [group for group, _ in chunk], start

    def _log_drops(self, result: FanoutResult) -> None:
        if result.dropped:
            metrics.push_dropped(result.dropped, reason="inbox_full")
            shown = ", ".join(result.dropped_groups[:10]) + (" ..." if len(result.dropped_groups) > 10 else "")
            logger.warning("realtime: dropped %d frame(s): inbox full (capacity %d) for %s",
                           result.dropped, self.capacity, shown)
        if result.expired:
            metrics.push_dropped(result.expired, reason="expired")
            logger.warning("realtime: %d frame(s) expired unread in a process inbox (older than %d s)",
                           result.expired, self.expiry)

    def sequence_key(self, group: str) -> str:
        """The Redis key of ``group``'s frame counter."""
        return f"{self.prefix}:realtime:seq:{group}"

    async def send(self, channel: str, message: dict) -> None:
        """Send to one channel. A process-local channel gets the same inbox entry format,
        capacity check and drop count as group sends; others go as channels-redis sends them."""
        if "!" not in channel:
            await super().send(channel, message)
            return
        entry = b"0" * SEQ_WIDTH + channel.encode() + b"\n" + self.serialize(message)
        inbox = self.prefix + self.non_local_name(channel)
        script = self.connection(0).register_script(_DIRECT_LUA)
        full, expired = await script(keys=[inbox], args=[
            time.time_ns() // 1000, self.expiry, self.expiry + self.group_expiry, self.capacity, self.drop_key, entry,
        ])
        self._log_drops(FanoutResult(dropped=int(full), expired=int(expired), dropped_groups=[channel]))

    async def flush(self):
        """Delete every key of this prefix and close the pools (tests)."""
        for reader in list(self._readers.values()):
            reader.cancel()
        await super().flush()


def _fanout_result(reply, groups: list[str], offset: int = 0) -> FanoutResult:
    appended, full, expired, offline, *marks = (int(x) for x in reply)
    lost = [i for i in marks if i > 0]
    return FanoutResult(
        delivered=len(groups) - offline - len(lost),
        offline=offline,
        frames=appended,
        dropped=full,
        expired=expired,
        dropped_groups=[groups[i - 1] for i in lost],
        dropped_items=[offset + i - 1 for i in lost],
        offline_items=[offset - i - 1 for i in marks if i < 0],
    )


def dropped_frames(layer=None) -> dict[str, int]:
    """The drop counters of the default channel layer (or ``layer``): ``{reason: frames}`` for
    each of :data:`DROP_REASONS` (0 when never dropped). Empty dict for a layer that does not
    count (the in-memory layer of the embedded default)."""
    if layer is None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
    if not isinstance(layer, RealtimeChannelLayer):
        return {}
    raw = layer.sync_client().hgetall(layer.drop_key)
    counts = {key.decode(): int(value) for key, value in raw.items()}
    return {reason: counts.get(reason, 0) for reason in DROP_REASONS}
