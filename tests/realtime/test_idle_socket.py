"""A WebSocket that stays idle longer than channels-redis's 5 s blocking read keeps working.

redis-py 8 gives every client a 5 s socket timeout by default — exactly how long channels-redis
blocks in ``BZPOPMIN`` waiting for a socket's next message — so an idle consumer's read timed
out, the consumer died and its socket closed within seconds of connecting. The channel layer's
connections now get a longer timeout (``bellamy.realtime.layers``).
"""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from bellamy import metrics
from bellamy.asgi import application
from bellamy.realtime.presence import get_presence, reset_presence
from bellamy.realtime.services import push_to_users

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_idle_socket_still_receives_pushes_after_the_blocking_read_times_out(user_factory, settings):
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "bellamy.realtime.layers.RealtimeChannelLayer"
    judy = user_factory(username="judy")
    message = {"type": "notification.created", "data": {"id": "n7"}}
    open_before = metrics.SOCKETS._value.get()
    reset_presence()

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(judy)}")
        connected, _ = await socket.connect(timeout=5)
        counted = metrics.SOCKETS._value.get() - open_before
        await asyncio.sleep(7)  # longer than one 5 s blocking read: the read returned empty and repeats
        sent = await sync_to_async(push_to_users)([judy.pk], message)
        received = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        seq = received.pop("seq")  # the user's frame counter (README "Real time")
        return connected, counted, sent, received, isinstance(seq, int) and seq >= 1

    try:
        assert async_to_sync(scenario)() == (True, 1.0, 1, message, True)
        assert metrics.SOCKETS._value.get() == open_before
    finally:
        get_presence().clear()
        reset_presence()
