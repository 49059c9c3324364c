"""A client that stops reading, on a real ASGI server whose ``send`` waits for the client
(uvicorn): its socket's queue fills, the excess is counted, and nothing disappears uncounted."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
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
from tests.conftest import REDIS_TEST_URL
from tests.live_stack import ROOT, current_database_url, free_port

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SOCKET_CAPACITY = 50


@pytest.fixture
def uvicorn_server(tmp_path):
    """uvicorn serving bellamy.asgi on a free port, on the test database and Redis, with a key
    prefix and a socket capacity of its own; yields ``(port, key prefix)``."""
    port, prefix = free_port(), f"slow{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BELLAMY_", "CELERY_", "REDIS_"))},
        "DJANGO_SETTINGS_MODULE": "bellamy.settings",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": current_database_url(),
        "REDIS_URL": REDIS_TEST_URL,
        "BELLAMY_KEY_PREFIX": prefix,
        "BELLAMY_WS_SOCKET_CAPACITY": str(SOCKET_CAPACITY),
        "BELLAMY_LOG_LEVEL": "WARNING",
    }
    log = open(tmp_path / "uvicorn.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
         "--ws", "websockets-sansio", "--ws-ping-interval", "120", "bellamy.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not start:\n{(tmp_path / 'uvicorn.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield port, prefix
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def test_a_client_that_stops_reading_loses_the_excess_counted_and_receives_the_rest_in_order(
    uvicorn_server, user_factory, settings
):
    port, prefix = uvicorn_server
    settings.CHANNEL_LAYERS = config.channel_layers(REDIS_TEST_URL, prefix=f"{prefix}:asgi")
    vic = user_factory(username="vic")
    padding = "x" * 1000
    pushed = 2000

    async def scenario():
        # Given a client whose TCP receive buffer is tiny and which stops reading (websockets
        # pauses the transport once 4 frames wait unread)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", port))
        client = await websockets.connect(f"ws://127.0.0.1:{port}/ws/?token={AccessToken.for_user(vic)}",
                                          sock=raw, max_queue=4, ping_interval=None)
        # When 2,000 frames of 1 kB are pushed to it in one batch
        sent = await asyncio.to_thread(push_messages, [
            (vic.pk, {"type": "notification.created", "data": {"id": f"n{n}", "padding": padding}})
            for n in range(pushed)
        ])
        # (the server has handled them all once its drop count stops moving)
        counted, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 2:
            now = (await asyncio.to_thread(dropped_frames))["socket_full"]
            if now != counted:
                counted, stable_since = now, time.monotonic()
            await asyncio.sleep(0.2)
        # and the client then reads everything that reached it
        frames = []
        while True:
            try:
                frames.append(json.loads(await asyncio.wait_for(client.recv(), 3)))
            except TimeoutError:
                break
        await client.close()
        return sent, await asyncio.to_thread(dropped_frames), frames

    sent, drops, frames = asyncio.run(scenario())
    seqs = [f["seq"] for f in frames]
    # Then every frame was either received or counted as dropped (socket queue full), never both
    assert sent == pushed
    assert drops["inbox_full"] == drops["expired"] == 0
    assert drops["socket_full"] > 0
    assert len(frames) + drops["socket_full"] == pushed
    # and the received ones are in order, each with its own number: the gaps are the drops
    assert seqs == sorted(set(seqs))
    assert [f["data"]["id"] for f in frames] == [f"n{s - 1}" for s in seqs]
    assert pushed - len(seqs) == drops["socket_full"]
