"""The /ws/ consumer, presence and pushes, on channels-redis with the real Redis."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from bellamy.asgi import application
from bellamy.realtime.presence import PRESENCE_TTL, get_presence, reset_presence
from bellamy.realtime.services import close_user_sockets, push_to_users

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_presence():
    reset_presence()
    get_presence().clear()
    yield
    get_presence().clear()
    reset_presence()


def token_for(user, **claims) -> str:
    token = AccessToken.for_user(user)
    for name, value in claims.items():
        token[name] = value
    return str(token)


async def open_socket(path: str, subprotocols=None):
    communicator = WebsocketCommunicator(application, path, subprotocols=subprotocols)
    connected, detail = await communicator.connect(timeout=5)
    return communicator, connected, detail


def test_query_token_and_bearer_subprotocol_both_authenticate(user_factory):
    alice = user_factory(username="alice")

    async def scenario():
        by_query, ok_query, _ = await open_socket(f"/ws/?token={token_for(alice)}")
        by_protocol, ok_protocol, protocol = await open_socket("/ws/", subprotocols=["bearer", token_for(alice)])
        await by_query.send_json_to({"type": "ping"})
        pong = await by_query.receive_json_from(timeout=5)
        await by_query.disconnect()
        await by_protocol.disconnect()
        return ok_query, ok_protocol, protocol, pong

    assert async_to_sync(scenario)() == (True, True, "bearer", {"type": "pong"})


@pytest.mark.parametrize("case", ["missing", "garbage", "expired", "other_signature", "inactive_user"])
def test_bad_tokens_close_with_4401(user_factory, case):
    user = user_factory(username="bob", is_active=case != "inactive_user")
    tokens = {
        "missing": None,
        "garbage": "not.a.jwt",
        "expired": token_for(user, exp=int((AccessToken().current_time - timedelta(minutes=1)).timestamp())),
        "other_signature": token_for(user)[:-4] + "AAAA",
        "inactive_user": token_for(user),
    }
    path = "/ws/" if tokens[case] is None else f"/ws/?token={tokens[case]}"

    async def scenario():
        communicator, _connected, _ = await open_socket(path)
        output = await communicator.receive_output(timeout=5)
        await communicator.wait()
        return output

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": 4401}
    assert get_presence().online([user.pk]) == set()


def test_unknown_and_malformed_frames_get_an_error_and_the_socket_stays_open(user_factory):
    carol = user_factory(username="carol")

    async def scenario():
        communicator, _, _ = await open_socket(f"/ws/?token={token_for(carol)}")
        replies = []
        for frame in ('{"type": "dance"}', "{not json", "[1, 2]"):
            await communicator.send_to(text_data=frame)
            replies.append(await communicator.receive_json_from(timeout=5))
        await communicator.send_json_to({"type": "ping"})
        replies.append(await communicator.receive_json_from(timeout=5))
        await communicator.send_to(text_data="x" * 5000)
        closed = await communicator.receive_output(timeout=5)
        return replies, closed

    replies, closed = async_to_sync(scenario)()
    assert replies == [
        {"type": "error", "data": {"code": "unknown_type"}},
        {"type": "error", "data": {"code": "malformed"}},
        {"type": "error", "data": {"code": "unknown_type"}},
        {"type": "pong"},
    ]
    assert closed == {"type": "websocket.close", "code": 4413}


def test_presence_counts_several_tabs_once_and_clears_when_the_last_closes(user_factory):
    dave, erin = user_factory(username="dave"), user_factory(username="erin")

    async def scenario():
        presence = get_presence()
        online = sync_to_async(presence.online)
        tab1, _, _ = await open_socket(f"/ws/?token={token_for(dave)}")
        tab2, _, _ = await open_socket(f"/ws/?token={token_for(dave)}")
        both = await online([dave.pk, erin.pk])
        await tab1.disconnect()
        one_left = await online([dave.pk, erin.pk])
        await tab2.disconnect()
        none_left = await online([dave.pk, erin.pk])
        return both, one_left, none_left

    assert async_to_sync(scenario)() == ({dave.pk}, {dave.pk}, set())


def test_presence_expires_without_heartbeat():
    presence = get_presence()
    presence.touch(7, "channel-a", now=1000.0)
    assert presence.online([7], now=1000.0 + PRESENCE_TTL - 1) == {7}
    assert presence.online([7], now=1000.0 + PRESENCE_TTL + 1) == set()


def test_push_reaches_every_socket_of_the_recipient_and_nobody_else(user_factory):
    frank, grace = user_factory(username="frank"), user_factory(username="grace")
    message = {"type": "notification.created", "data": {"id": "n1"}}

    async def scenario():
        frank_tab1, _, _ = await open_socket(f"/ws/?token={token_for(frank)}")
        frank_tab2, _, _ = await open_socket(f"/ws/?token={token_for(frank)}")
        grace_tab, _, _ = await open_socket(f"/ws/?token={token_for(grace)}")
        sent = await sync_to_async(push_to_users)([frank.pk, 999_999], message)
        received = [await frank_tab1.receive_json_from(timeout=5), await frank_tab2.receive_json_from(timeout=5)]
        grace_got_nothing = await grace_tab.receive_nothing(timeout=0.5)
        for tab in (frank_tab1, frank_tab2, grace_tab):
            await tab.disconnect()
        return sent, received, grace_got_nothing

    assert async_to_sync(scenario)() == (1, [message, message], True)


def test_close_user_sockets_closes_only_that_users_sockets(user_factory):
    heidi, ivan = user_factory(username="heidi"), user_factory(username="ivan")

    async def scenario():
        heidi_tab, _, _ = await open_socket(f"/ws/?token={token_for(heidi)}")
        ivan_tab, _, _ = await open_socket(f"/ws/?token={token_for(ivan)}")
        await sync_to_async(close_user_sockets)(heidi.pk)
        closed = await heidi_tab.receive_output(timeout=5)
        await ivan_tab.send_json_to({"type": "ping"})
        ivan_still_open = await ivan_tab.receive_json_from(timeout=5)
        await ivan_tab.disconnect()
        return closed, ivan_still_open

    assert async_to_sync(scenario)() == ({"type": "websocket.close", "code": 4401}, {"type": "pong"})
