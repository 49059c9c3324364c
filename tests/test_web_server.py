"""``bin/web``: the production web server (Granian) serves HTTP and ``/ws/`` from several
processes and stops cleanly on SIGTERM, open sockets or not (Daphne hung there)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import websockets
from rest_framework_simplejwt.tokens import AccessToken

from tests.conftest import service_unavailable
from tests.live_stack import ROOT, LiveStack, _process_tree

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_serves_http_and_websockets_from_two_processes_and_exits_on_sigterm(user_factory):
    user = user_factory(username="sockets")
    stack = LiveStack(web_processes=2)
    stack.start_web()
    try:
        try:
            stack.wait_web()
        except RuntimeError as exc:
            service_unavailable("the web server (bin/web)", exc)
        web = stack.processes["web"]
        # Granian's main process and its two workers
        assert len(_process_tree(web.pid)) == 3
        ws_url = stack.base_url.replace("http://", "ws://") + f"/ws/?token={AccessToken.for_user(user)}"

        async def scenario():
            sockets = [await websockets.connect(ws_url) for _ in range(4)]
            for socket in sockets:
                await socket.send(json.dumps({"type": "ping"}))
                assert json.loads(await socket.recv()) == {"type": "pong"}
            async with httpx.AsyncClient(base_url=stack.base_url) as http:
                statuses = await asyncio.gather(*(http.get("/healthz") for _ in range(20)))
            assert [r.status_code for r in statuses] == [200] * 20
            os.killpg(web.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while web.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return web.poll()

        # exits by itself, with code 0, well before LiveStack.stop() would kill it
        assert asyncio.run(scenario()) == 0
    finally:
        stack.stop()


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_process_count_refuses_to_start(value):
    result = subprocess.run([str(ROOT / "bin" / "web")], env={**os.environ, "BELLAMY_WEB_PROCESSES": value},
                            capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stderr.strip()) == (
        2, f"BELLAMY_WEB_PROCESSES must be a positive integer, got '{value}'")


def test_workers_exit_when_the_main_process_is_killed_outright():
    """SIGKILL of Granian's main process (as the OOM killer would) takes its workers with it,
    so the port is free for the process manager's restart (they used to live on as orphans)."""
    stack = LiveStack(web_processes=2)
    stack.start_web()
    try:
        try:
            stack.wait_web()
        except RuntimeError as exc:
            service_unavailable("the web server (bin/web)", exc)
        web = stack.processes["web"]
        main, *workers = _process_tree(web.pid)
        assert len(workers) == 2
        os.kill(main, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in workers if _alive(pid)] == []
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{stack.base_url}/healthz", timeout=2)
    finally:
        stack.stop()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
