"""End to end on the production stack: post → outbox → Kafka → forwarder → Celery worker →
MongoDB notification store → Channels → the friend's real WebSocket."""

import asyncio
import json
import time

import httpx
import pytest
import websockets
from rest_framework_simplejwt.tokens import AccessToken

from tests.conftest import service_unavailable
from tests.live_stack import LiveStack

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_stack():
    stack = LiveStack()
    try:
        stack.start()
    except RuntimeError as exc:
        stack.stop()
        service_unavailable("the production stack", exc)
    yield stack
    stack.stop()


async def receive_until(socket, wanted: str, timeout: float) -> tuple[dict, list[str]]:
    """Read messages until one of type ``wanted``; return it and the types seen before."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout=max(0.01, deadline - time.monotonic())))
        if message["type"] == wanted:
            return message, seen
        seen.append(message["type"])


#: Upper bound for the whole pipeline on a shared, loaded machine: the test checks what arrives,
#: never how fast (bench/realtime_latency.py measures that).
PIPELINE_BOUND = 90.0


def test_friend_receives_one_notification_created_frame_for_a_post(live_stack, user_factory, befriend):
    alice, bob, carol = user_factory(username="alice"), user_factory(username="bob"), user_factory(username="carol")
    befriend(alice, bob)
    ws_url = live_stack.base_url.replace("http://", "ws://") + "/ws/"

    async def scenario():
        async with websockets.connect(f"{ws_url}?token={AccessToken.for_user(bob)}") as bob_socket, \
                websockets.connect(ws_url, subprotocols=["bearer", str(AccessToken.for_user(carol))]) as carol_socket:
            await bob_socket.send(json.dumps({"type": "ping"}))
            assert json.loads(await bob_socket.recv()) == {"type": "pong"}
            async with httpx.AsyncClient(base_url=live_stack.base_url) as http:
                response = await http.post(
                    f"/api/Post/users/{alice.pk}", json={"content": "Hello #friends"},
                    headers={"Authorization": f"Bearer {AccessToken.for_user(alice)}"},
                )
            assert response.status_code == 201, response.text
            message, before = await receive_until(bob_socket, "notification.created", timeout=PIPELINE_BOUND)
            # Nothing else comes for that post (one frame per post and friend), nor to carol.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(bob_socket.recv(), timeout=3)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(carol_socket.recv(), timeout=0.5)
            return response.json(), message, before

    post, message, before = asyncio.run(scenario())
    assert before == []
    data = message["data"]
    assert (data["type"], data["post_id"], data["actor_count"], data["read"], message["seq"]) == (
        "friend_posted", post["id"], 1, False, 1
    )
    assert [actor["username"] for actor in data["actors"]] == ["alice"]
