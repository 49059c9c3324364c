"""The channel layer (bellamy.realtime.layers) on the real Redis: batched sends, bounded pools,
counted drops, sequence numbers, idle reads."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
import redis

from bellamy.realtime.layers import RealtimeChannelLayer, dropped_frames

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def make_layer():
    """``make_layer(**options)`` → a RealtimeChannelLayer on the test Redis with a prefix of its
    own; every key of the prefix is deleted afterwards."""
    prefixes = []

    def make(**options) -> RealtimeChannelLayer:
        prefix = f"test{uuid.uuid4().hex[:8]}:asgi"
        prefixes.append(prefix)
        return RealtimeChannelLayer(hosts=[REDIS_URL], prefix=prefix, **options)

    yield make
    client = redis.Redis.from_url(REDIS_URL)
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    client.close()


def frame(n: int) -> dict:
    return {"type": "push.message", "message": {"type": "notification.created", "data": {"n": n}}}


async def drain(layer, channel: str, count: int, timeout: float = 5.0) -> list[dict]:
    return [await asyncio.wait_for(layer.receive(channel), timeout) for _ in range(count)]


class CountingConnection(redis.Connection):
    """A redis-py connection that counts the requests it writes (one per round trip)."""

    requests = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.requests += 1
        return super().send_packed_command(command, check_health)


def test_a_batch_costs_one_round_trip_per_1000_messages(make_layer):
    # Given 1,000 users with one open socket each and 500 offline users
    layer = make_layer()
    pool = redis.BlockingConnectionPool.from_url(REDIS_URL, connection_class=CountingConnection, max_connections=2)
    layer._sync_client = redis.Redis(connection_pool=pool)

    async def scenario():
        channels = [await layer.new_channel() for _ in range(1000)]
        pipe = layer.connection(0).pipeline(transaction=False)
        layer.queue_group_add(pipe, [(f"user.{n}", channel) for n, channel in enumerate(channels)])
        await pipe.execute()
        layer.group_send_many_sync([("user.0", frame(-1))])  # loads the Lua script once
        await drain(layer, channels[0], 1)
        before = CountingConnection.requests
        # When one batch pushes a distinct frame to each of the 1,500 users
        result = await asyncio.to_thread(
            layer.group_send_many_sync, [(f"user.{n}", frame(n)) for n in range(1500)], sequence=True
        )
        round_trips = CountingConnection.requests - before
        received = [await drain(layer, channel, 1) for channel in channels]
        return result, round_trips, received

    result, round_trips, received = asyncio.run(scenario())
    # Then it took two round trips, and each online socket got its own frame, numbered 1
    assert round_trips == 2
    assert (result.delivered, result.offline, result.frames, result.dropped) == (1000, 500, 1000, 0)
    assert [r[0]["message"]["data"]["n"] for r in received] == list(range(1000))
    assert {r[0]["seq"] for r in received} == {1}


def test_a_full_inbox_drops_are_counted_exactly_and_the_kept_frames_arrive_in_order(make_layer, caplog):
    # Given a process whose inbox holds 5 frames and that is not reading (stalled)
    stalled = make_layer(capacity=5)
    sender = RealtimeChannelLayer(hosts=[REDIS_URL], prefix=stalled.prefix, capacity=5)
    channel = f"specific.{stalled.client_prefix}!socket1"

    async def join():
        await stalled.group_add("user.7", channel)

    asyncio.run(join())
    # When 8 frames are pushed to its user
    result = sender.group_send_many_sync([("user.7", frame(n)) for n in range(8)], sequence=True)
    # Then 3 are refused, counted and logged; the process later reads the first 5, numbered 1..5
    assert (result.delivered, result.dropped, result.dropped_groups) == (5, 3, ["user.7", "user.7", "user.7"])
    assert dropped_frames(sender) == {"inbox_full": 3, "expired": 0, "socket_full": 0}
    assert "dropped 3 frame(s): inbox full (capacity 5) for user.7" in caplog.text

    async def resume():
        return await drain(stalled, channel, 5)

    kept = asyncio.run(resume())
    assert [(m["seq"], m["message"]["data"]["n"]) for m in kept] == [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4)]
    # and the next frame carries seq 9: the client sees that 6..8 are missing
    follow_up = sender.group_send_many_sync([("user.7", frame(8))], sequence=True)

    async def next_one():
        return await drain(stalled, channel, 1)

    assert follow_up.delivered == 1
    assert asyncio.run(next_one())[0]["seq"] == 9


def test_a_socket_whose_queue_is_full_loses_the_excess_counted(make_layer, caplog):
    # Given a socket (queue of 3 frames in its process) whose consumer does not take frames
    layer = make_layer(socket_capacity=3)

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("user.1", channel)
        # When 7 frames arrive for it
        result = await layer.group_send_many([("user.1", frame(n)) for n in range(7)], sequence=True)
        deadline = time.monotonic() + 5
        while dropped_frames(layer)["socket_full"] < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        kept = await drain(layer, channel, 3)
        try:
            extra = await asyncio.wait_for(layer.receive(channel), 0.5)
        except TimeoutError:
            extra = None
        return result, kept, extra

    result, kept, extra = asyncio.run(scenario())
    # Then its process kept 3 (numbered 1..3) and counted the 4 others
    assert result.frames == 7
    assert [m["seq"] for m in kept] == [1, 2, 3]
    assert extra is None
    assert dropped_frames(layer) == {"inbox_full": 0, "expired": 0, "socket_full": 4}
    assert "dropped 4 frame(s): socket queue full (capacity 3)" in caplog.text


def test_frames_left_unread_past_expiry_are_counted_when_the_inbox_is_next_used(make_layer):
    # Given a stalled process's inbox holding 2 frames for longer than the expiry (1 s)
    layer = make_layer(expiry=1)
    channel = f"specific.{uuid.uuid4().hex}!sock"

    async def join():
        await layer.group_add("user.3", channel)

    asyncio.run(join())
    layer.group_send_many_sync([("user.3", frame(0)), ("user.3", frame(1))])
    time.sleep(1.3)
    # When the next frame is sent there
    result = layer.group_send_many_sync([("user.3", frame(2))])
    # Then the two stale ones are removed and counted as expired
    assert (result.expired, result.frames) == (2, 1)
    assert dropped_frames(layer) == {"inbox_full": 0, "expired": 2, "socket_full": 0}


def test_frames_arrive_in_the_order_sent_across_chunks_and_back_to_back_batches(make_layer):
    # Given one socket, when 2,500 frames (three Lua calls) and then 10 more are pushed at once
    layer = make_layer(socket_capacity=3000)

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("user.8", channel)
        await asyncio.to_thread(layer.group_send_many_sync, [("user.8", frame(n)) for n in range(2500)], sequence=True)
        await asyncio.to_thread(layer.group_send_many_sync, [("user.8", frame(2500 + n)) for n in range(10)],
                                sequence=True)
        return await drain(layer, channel, 2510)

    received = asyncio.run(scenario())
    # Then they are read in that order, numbered 1..2510
    assert [(m["seq"], m["message"]["data"]["n"]) for m in received] == [(n + 1, n) for n in range(2510)]


def test_sequence_numbers_count_each_users_frames_and_not_other_messages(make_layer):
    layer = make_layer()

    async def scenario():
        alice, bob = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("user.1", alice)
        await layer.group_add("user.2", bob)
        await layer.group_send_many(
            [("user.1", frame(0)), ("user.2", frame(1)), ("user.1", frame(2))], sequence=True
        )
        await layer.group_send("user.1", {"type": "session.close"})
        await layer.group_send_many([("user.1", frame(3))], sequence=True)
        return await drain(layer, alice, 4), await drain(layer, bob, 1)

    alice, bob = asyncio.run(scenario())
    assert [(m["type"], m.get("seq")) for m in alice] == [
        ("push.message", 1), ("push.message", 2), ("session.close", None), ("push.message", 3)
    ]
    assert [m["message"]["data"]["n"] for m in alice if m["type"] == "push.message"] == [0, 2, 3]
    assert [m["seq"] for m in bob] == [1]


def test_an_idle_inbox_read_outlasts_the_blocking_timeout(make_layer):
    # Given a socket that receives nothing for longer than the 5 s blocking read (issue 21:
    # redis-py's 5 s socket timeout used to end that read with TimeoutError)
    layer = make_layer()

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("user.5", channel)
        waiting = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(layer.brpop_timeout + 2)
        early = waiting.done()
        await layer.group_send_many([("user.5", frame(1))], sequence=True)
        return early, await asyncio.wait_for(waiting, 5)

    early, message = asyncio.run(scenario())
    # Then the receive is still waiting, and gets the next frame
    assert early is False
    assert (message["seq"], message["message"]["data"]["n"]) == (1, 1)


def test_the_connection_pool_is_bounded_and_waits_instead_of_failing(make_layer):
    # Given a layer allowed 3 connections
    layer = make_layer(pool_size=3)
    client = redis.Redis.from_url(REDIS_URL)

    async def scenario():
        channels = [await layer.new_channel() for _ in range(300)]
        # When 300 sockets join their groups at once
        await asyncio.gather(*(layer.group_add(f"user.{n}", c) for n, c in enumerate(channels)))
        pool = layer.connection(0).connection_pool
        return pool.max_connections, len(pool._in_use_connections) + len(pool._available_connections)

    limit, opened = asyncio.run(scenario())
    # Then every join succeeded on at most 3 connections (the reader holds one of them)
    assert (limit, opened <= 3) == (3, True)
    assert client.zcard(layer._group_key("user.299")) == 1
    client.close()


def test_group_membership_expires_without_a_heartbeat(make_layer):
    layer = make_layer(group_expiry=1)
    channel = f"specific.{uuid.uuid4().hex}!sock"

    async def join():
        await layer.group_add("user.4", channel)

    asyncio.run(join())
    assert layer.group_send_many_sync([("user.4", frame(0))]).delivered == 1
    time.sleep(1.5)
    assert layer.group_send_many_sync([("user.4", frame(1))]).offline == 1


def test_more_than_one_host_is_refused():
    with pytest.raises(ValueError, match="exactly one Redis host"):
        RealtimeChannelLayer(hosts=[REDIS_URL, REDIS_URL])


def test_an_unreadable_inbox_entry_is_logged_and_the_frames_after_it_arrive(make_layer, caplog):
    # Given a socket whose process inbox holds an entry without the layer's header (as a process
    # on plain channels-redis would write it) before a real frame
    layer = make_layer()

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("user.9", channel)
        client = redis.Redis.from_url(REDIS_URL)
        # (scored now: an older score would be removed as expired by the next send)
        client.zadd(layer.inbox_key, {b"not an entry of ours": time.time_ns() // 1000})
        client.close()
        await layer.group_send_many([("user.9", frame(7))], sequence=True)
        return await drain(layer, channel, 1)

    with caplog.at_level("ERROR", logger="bellamy.realtime.layers"):
        received = asyncio.run(scenario())
    # Then the reader skips it with an error line and still delivers the frame after it
    assert [(m["seq"], m["message"]["data"]["n"]) for m in received] == [(1, 7)]
    assert [r.getMessage() for r in caplog.records] == [
        f"realtime: skipped an unreadable inbox entry of 20 bytes in {layer.inbox_key}"
    ]


def test_a_batch_says_which_items_were_offline_and_which_lost_a_frame_across_chunks(make_layer):
    # Given a stalled process whose inbox holds 2 frames, with user 11's socket, and user 12 offline
    stalled = make_layer(capacity=2)
    sender = RealtimeChannelLayer(hosts=[REDIS_URL], prefix=stalled.prefix, capacity=2)

    async def join():
        await stalled.group_add("user.11", f"specific.{stalled.client_prefix}!socket1")

    asyncio.run(join())
    # When a batch of 1,003 items (two Lua calls) ends with 3 frames for user 11 and one for user 12
    items = [("user.12", frame(n)) for n in range(999)] + [("user.11", frame(n)) for n in range(3)]
    items.append(("user.12", frame(3)))
    result = sender.group_send_many_sync(items, sequence=True)
    # Then the indices are those of the whole batch: 1,000 offline, the third frame of user 11 lost
    assert result.offline_items == [*range(999), 1002]
    assert result.dropped_items == [1001]
    assert (result.delivered, result.offline, result.dropped) == (2, 1000, 1)
