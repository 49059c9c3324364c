"""Real time on the production stack (LiveStack: bin/web (Granian), Celery worker, Kafka forwarder, Redis,
MongoDB-compatible store, PostgreSQL): idle sockets, a crowd, a stalled web process's counted
drops, the Origin check and a deeply nested frame, each through real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from rest_framework_simplejwt.tokens import AccessToken

from bellamy import config
from bellamy.realtime.layers import dropped_frames
from bellamy.realtime.services import push_messages
from tests.conftest import REDIS_TEST_URL, service_unavailable
from tests.live_stack import LiveStack

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Seconds the idle sockets are held (issue 21: "several minutes").
IDLE_SECONDS = 200
#: Upper bound for a frame to cross the whole pipeline on a shared, loaded machine; the tests
#: check that frames arrive and how many, never how fast (the benchmark measures that).
PIPELINE_BOUND = 90.0


def start_stack(**extra_env) -> LiveStack:
    stack = LiveStack(extra_env=extra_env)
    try:
        stack.start()
    except RuntimeError as exc:
        stack.stop()
        service_unavailable("the production stack", exc)
    return stack


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker):
    """One stack for the tests of this module that do not change its settings."""
    with django_db_blocker.unblock():
        live = start_stack(DJANGO_CORS_ALLOWED_ORIGINS="https://app.example.org")
    yield live
    live.stop()


def ws_url(stack: LiveStack) -> str:
    return stack.base_url.replace("http://", "ws://") + "/ws/"


async def connect(stack: LiveStack, user, **options):
    """An idle client: it sends no pings of its own (and the web server sends none either)."""
    return await websockets.connect(f"{ws_url(stack)}?token={AccessToken.for_user(user)}", ping_interval=None,
                                    max_queue=None, open_timeout=60, **options)


async def connect_many(stack: LiveStack, users) -> list:
    sockets = []
    for start in range(0, len(users), 50):
        sockets += await asyncio.gather(*(connect(stack, u) for u in users[start:start + 50]))
    return sockets


async def post(stack: LiveStack, author, content: str) -> dict:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(f"/api/Post/users/{author.pk}", json={"content": content},
                                   headers={"Authorization": f"Bearer {AccessToken.for_user(author)}"})
    assert response.status_code == 201, response.text
    return response.json()


async def frames_until(socket, done, timeout: float) -> list[dict]:
    """Frames received until ``done(frames)`` is true (or ``timeout`` seconds pass)."""
    frames, deadline = [], time.monotonic() + timeout
    while not done(frames) and time.monotonic() < deadline:
        try:
            raw = await asyncio.wait_for(socket.recv(), timeout=max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        frames.append(json.loads(raw))
    return frames


def notification_for(post_id: int):
    return lambda frames: any(
        f["type"] == "notification.created" and f["data"].get("post_id") == post_id for f in frames
    )


def friends_of(author, users, befriend):
    for user in users:
        befriend(author, user)


@pytest.mark.timeout(600)
def test_idle_sockets_stay_open_for_minutes_and_still_receive(stack, user_factory, befriend):
    # Given 20 friends of an author with open sockets that send nothing for 200 s
    author = user_factory(username="idle_author")
    friends = [user_factory(username=f"idle{n}") for n in range(20)]
    friends_of(author, friends, befriend)

    async def scenario():
        sockets = await connect_many(stack, friends)
        await asyncio.sleep(IDLE_SECONDS)
        still_open = [s.state is websockets.State.OPEN for s in sockets]
        # When the author posts
        created = await post(stack, author, "after a long silence")
        received = await asyncio.gather(
            *(frames_until(s, notification_for(created["id"]), PIPELINE_BOUND) for s in sockets)
        )
        for s in sockets:
            await s.close()
        return still_open, created, received

    still_open, created, received = asyncio.run(scenario())
    # Then every socket is still open and gets the notification of that post
    assert still_open == [True] * 20
    assert [notification_for(created["id"])(frames) for frames in received] == [True] * 20


def test_one_post_reaches_a_crowd_of_300_online_friends(stack, user_factory, befriend):
    from django.contrib.auth import get_user_model

    from graph.models import Friendship

    # Given an author with 300 friends online
    author = user_factory(username="crowd_author")
    user_model = get_user_model()
    crowd = user_model.objects.bulk_create([user_model(username=f"crowd{n}") for n in range(300)])
    Friendship.objects.bulk_create(
        [Friendship(user_low_id=min(author.pk, u.pk), user_high_id=max(author.pk, u.pk)) for u in crowd]
    )

    async def scenario():
        sockets = await connect_many(stack, crowd)
        # When they post once
        created = await post(stack, author, "hello crowd")
        received = await asyncio.gather(
            *(frames_until(s, notification_for(created["id"]), PIPELINE_BOUND) for s in sockets)
        )
        # (anything else the post would send arrives within a few seconds of its notification)
        later = await asyncio.gather(*(frames_until(s, lambda frames: False, 3) for s in sockets))
        for s in sockets:
            await s.close()
        return created, [first + rest for first, rest in zip(received, later, strict=True)]

    created, received = asyncio.run(scenario())
    # Then each of the 300 sockets got exactly one frame: the notification of that post, numbered
    got = [[f for f in frames if notification_for(created["id"])([f])] for frames in received]
    assert [len(frames) for frames in received] == [1] * 300
    assert [len(mine) for mine in got] == [1] * 300
    assert {(mine[0]["data"]["type"], mine[0]["data"]["actor_count"]) for mine in got} == {("friend_posted", 1)}
    assert all(isinstance(mine[0]["seq"], int) and mine[0]["seq"] >= 1 for mine in got)


def test_origin_is_checked_and_clients_without_one_pass(stack, user_factory):
    pat = user_factory(username="pat")

    async def attempt(origin):
        try:
            socket = await connect(stack, pat, **({"origin": origin} if origin else {}))
        except websockets.InvalidStatus as exc:
            return exc.response.status_code
        await socket.send(json.dumps({"type": "ping"}))
        reply = json.loads(await socket.recv())
        await socket.close()
        return reply["type"]

    async def scenario():
        return [await attempt(origin) for origin in
                (None, stack.base_url, "https://app.example.org", "https://evil.example", "null")]

    assert asyncio.run(scenario()) == ["pong", "pong", "pong", 403, 403]


def test_a_frame_nested_1000_levels_deep_gets_malformed_and_the_socket_stays_open(stack, user_factory):
    quinn = user_factory(username="quinn")

    async def scenario():
        socket = await connect(stack, quinn)
        await socket.send("[" * 1000 + "]" * 1000)
        first = json.loads(await socket.recv())
        await socket.send(json.dumps({"type": "ping"}))
        second = json.loads(await socket.recv())
        await socket.close()
        return first, second

    assert asyncio.run(scenario()) == ({"type": "error", "data": {"code": "malformed"}}, {"type": "pong"})


def listening_pids(port: int) -> list[int]:
    """The processes holding the listening socket of ``port`` (the web server and any workers
    that inherited it), from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            pids.append(int(proc.name))
    return pids


def test_a_stalled_web_process_loses_frames_counted_exactly_and_the_client_sees_the_gap(
    user_factory, settings, caplog
):
    # Given a stack whose web process's inbox holds 20 frames, and a user with an open socket
    prefix = f"drop{uuid.uuid4().hex[:8]}"
    stack = start_stack(REDIS_URL=REDIS_TEST_URL, BELLAMY_KEY_PREFIX=prefix, BELLAMY_WS_INBOX_CAPACITY="20")
    settings.CHANNEL_LAYERS = config.channel_layers(REDIS_TEST_URL, prefix=f"{prefix}:asgi", inbox_capacity=20)
    rita = user_factory(username="rita")
    try:
        pids = listening_pids(stack.port)

        async def scenario():
            socket = await connect(stack, rita)
            # When the web process stops reading (stalled) while 50 notifications are pushed
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            try:
                sent = await asyncio.to_thread(push_messages, [
                    (rita.pk, {"type": "notification.created", "data": {"id": f"n{n}"}}) for n in range(50)
                ])
                counted = await asyncio.to_thread(dropped_frames)
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
            kept = await frames_until(socket, lambda frames: len(frames) >= 20, 30)
            await asyncio.to_thread(push_messages, [
                (rita.pk, {"type": "notification.created", "data": {"id": "after"}})
            ])
            after = await frames_until(socket, lambda frames: len(frames) >= 1, 30)
            extra = await frames_until(socket, lambda frames: False, 1)
            await socket.close()
            return sent, counted, kept, after, extra

        sent, counted, kept, after, extra = asyncio.run(scenario())
    finally:
        stack.stop()
    # Then the 30 frames that did not fit are counted and logged, the first 20 arrive numbered
    # 1..20, and the next frame is numbered 51: the client can see that 21..50 are missing
    assert pids
    assert sent == 20
    assert counted == {"inbox_full": 30, "expired": 0, "socket_full": 0}
    assert "dropped 30 frame(s): inbox full (capacity 20)" in caplog.text
    assert [(f["seq"], f["data"]["id"]) for f in kept] == [(n + 1, f"n{n}") for n in range(20)]
    assert [(f["seq"], f["data"]["id"]) for f in after] == [(51, "after")]
    assert extra == []
