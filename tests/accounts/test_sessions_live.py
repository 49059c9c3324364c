"""Logout really logs out, on a real server process with real sockets: the embedded default
(``make run``: SQLite, local-memory cache, in-memory channel layer) and the production settings
(PostgreSQL, Redis cache and channel layer). Also: the revocation check when Redis is down."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time

import httpx
import pytest
import websockets

from tests.live_stack import current_database_url, free_port
from tests.web_server import WebServer, embedded_env, migrate, production_env

# The production server writes the test database through its own connections (committed):
# a transactional test empties it afterwards.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase 42"


@pytest.fixture(scope="module", params=["embedded", "production"])
def server(request, tmp_path_factory, django_db_setup):
    tmp_path = tmp_path_factory.mktemp(f"sessions-{request.param}")
    if request.param == "embedded":
        env = {**embedded_env(tmp_path / "db.sqlite3"), "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"]}
        migrate(env)
    else:
        env = production_env(current_database_url(), key_prefix=f"sessions{os.getpid()}")
    with WebServer(env, tmp_path / "web.log") as web:
        yield web


def login(http: httpx.Client, username: str) -> dict:
    response = http.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


async def first_answer(url: str, access: str) -> object:
    """Open /ws/ with ``access`` and ping: ``"pong"`` or the close code."""
    async with websockets.connect(f"{url}?token={access}") as socket:
        try:
            await socket.send(json.dumps({"type": "ping"}))
            return json.loads(await asyncio.wait_for(socket.recv(), timeout=5))["type"]
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code


def test_logout_closes_the_socket_and_refuses_the_session_everywhere(server):
    ws_url = server.base_url.replace("http://", "ws://") + "/ws/"
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        # given: bob logged in twice (phone, laptop); the phone rotated its refresh token
        assert http.post("/api/auth/register", json={"username": "bob", "email": "bob@example.org",
                                                     "password": PASSWORD}).status_code == 201
        phone, laptop = login(http, "bob"), login(http, "bob")
        rotated = http.post("/api/auth/token/refresh", json={"refresh": phone["refresh"]}).json()

        async def scenario():
            async with websockets.connect(f"{ws_url}?token={rotated['access']}") as open_socket:
                await open_socket.send(json.dumps({"type": "ping"}))
                assert json.loads(await open_socket.recv()) == {"type": "pong"}
                # when: the phone logs out with its first (already rotated) refresh token
                response = await asyncio.to_thread(
                    http.post, "/api/auth/logout", json={"refresh": phone["refresh"]},
                    headers={"Authorization": f"Bearer {rotated['access']}"},
                )
                assert response.status_code == 204
                # then: the open socket is closed with 4401
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(open_socket.recv(), timeout=10)
                assert closed.value.rcvd.code == 4401
            # and a new socket with the session's access tokens is refused at once
            assert await first_answer(ws_url, rotated["access"]) == 4401
            assert await first_answer(ws_url, phone["access"]) == 4401
            # while the laptop's session goes on, and a new login (same second) works
            assert await first_answer(ws_url, laptop["access"]) == "pong"
            again = await asyncio.to_thread(login, http, "bob")
            assert await first_answer(ws_url, again["access"]) == "pong"
            return again

        again = asyncio.run(scenario())
        for access in (phone["access"], rotated["access"]):
            response = http.get("/api/users/me", headers={"Authorization": f"Bearer {access}"})
            assert (response.status_code, response.json()["code"]) == (401, "token_revoked")
        assert http.post("/api/auth/token/refresh", json={"refresh": rotated["refresh"]}).status_code == 401
        for session in (laptop, again):
            assert http.get("/api/users/me", headers={"Authorization": f"Bearer {session['access']}"}).status_code == 200


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test alone, which the test may stop and start: ``(url, stop, start)``."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (bin/services installs it)")
    port = free_port()
    processes = []

    def start():
        processes.append(subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                           "--appendonly", "no", "--dir", str(tmp_path)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout != b"PONG\n":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop():
        processes[-1].terminate()
        processes[-1].wait(timeout=10)

    start()
    yield f"redis://127.0.0.1:{port}/0", stop, start
    if processes[-1].poll() is None:
        stop()


def test_revocation_holds_while_redis_is_down_and_after_it_returns(own_redis, settings, user_factory, monkeypatch):
    from rest_framework.test import APIClient

    from bellamy.accounts import services

    url, stop_redis, start_redis = own_redis
    # (Django rebuilds its cache backends when CACHES changes)
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    monkeypatch.setattr(services, "close_user_sockets", lambda user_id: None)
    user_factory(username="carol", password=PASSWORD)
    client = APIClient()

    def login_carol() -> dict:
        return client.post("/api/auth/token", {"username": "carol", "password": PASSWORD}, format="json").json()

    def me(access: str) -> int:
        return client.get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {access}").status_code

    # given: two sessions, both checked once (their state cached as live)
    kept, ended = login_carol(), login_carol()
    assert (me(kept["access"]), me(ended["access"])) == (200, 200)
    # when: Redis goes down, and one session logs out meanwhile
    stop_redis()
    response = client.post("/api/auth/logout", {"refresh": ended["refresh"]}, format="json",
                           HTTP_AUTHORIZATION=f"Bearer {kept['access']}")
    assert response.status_code == 204
    # then: the check falls back to the database: the ended session is refused, the other works
    assert (me(kept["access"]), me(ended["access"])) == (200, 401)
    # and when Redis returns (empty: it kept nothing), the database still decides
    start_redis()
    assert (me(kept["access"]), me(ended["access"])) == (200, 401)
