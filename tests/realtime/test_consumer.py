"""The /ws/ consumer, presence and pushes, on channels-redis with the real Redis."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from bellamy.asgi import application
from bellamy.realtime import sessions
from bellamy.realtime.presence import PRESENCE_TTL, get_presence, reset_presence
from bellamy.realtime.services import close_user_sockets, push_messages, push_to_users

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


def test_a_frame_sent_before_the_4401_close_arrived_is_dropped_not_answered():
    # given: a socket refused for its missing token (accepted, then closed with 4401)
    async def scenario():
        communicator, _connected, _ = await open_socket("/ws/")
        closed = await communicator.receive_output(timeout=5)
        # when: the client's ping, sent before it saw the close, reaches the consumer
        await communicator.send_json_to({"type": "ping"})
        # then: no answer on the closed socket (Daphne logged "send on a closed protocol")
        answered = not await communicator.receive_nothing(timeout=0.5)
        await communicator.wait()
        return closed, answered

    assert async_to_sync(scenario)() == ({"type": "websocket.close", "code": 4401}, False)


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

    # Both tabs get the same frame with the same number: seq counts the user's frames.
    assert async_to_sync(scenario)() == (1, [{**message, "seq": 1}, {**message, "seq": 1}], True)


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


def test_a_frame_nested_1000_levels_deep_is_malformed_and_the_socket_stays_open(user_factory):
    judy = user_factory(username="judy")
    frames = [
        "[" * 1000 + "]" * 1000,  # json's C decoder raises RecursionError near this depth
        '{"type": "ping", "data": ' + "[" * 16 + "]" * 16 + "}",  # 17 levels: parseable, too deep
        '{"type": "dance", "data": ' + "[" * 15 + "]" * 15 + "}",  # 16 levels: accepted
    ]

    async def scenario():
        communicator, _, _ = await open_socket(f"/ws/?token={token_for(judy)}")
        replies = []
        for text in frames:
            await communicator.send_to(text_data=text)
            replies.append(await communicator.receive_json_from(timeout=5))
        await communicator.send_json_to({"type": "ping"})
        replies.append(await communicator.receive_json_from(timeout=5))
        await communicator.disconnect()
        return replies

    assert async_to_sync(scenario)() == [
        {"type": "error", "data": {"code": "malformed"}},
        {"type": "error", "data": {"code": "malformed"}},
        {"type": "error", "data": {"code": "unknown_type"}},
        {"type": "pong"},
    ]


ORIGIN_CASES = [
    (None, True),  # not a browser (apps, servers): no Origin header
    (b"http://127.0.0.1:8000", True),  # a host of ALLOWED_HOSTS, any port
    (b"https://app.example.org", True),  # DJANGO_CORS_ALLOWED_ORIGINS
    (b"https://eu.bellamy.example", True),  # DJANGO_CSRF_TRUSTED_ORIGINS https://*.bellamy.example
    (b"https://evil.example", False),
    (b"http://app.example.org", False),  # a CORS origin matches scheme and port exactly
    (b"null", False),  # sandboxed iframes and file:// pages
    (b"\xff\xfe", False),  # unreadable
]


@pytest.mark.parametrize(("origin", "accepted"), ORIGIN_CASES)
def test_the_origin_must_be_ours_when_there_is_one(user_factory, settings, origin, accepted):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.org"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.bellamy.example"]
    kim = user_factory(username="kim")
    headers = [(b"origin", origin)] if origin is not None else []

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/?token={token_for(kim)}", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        online_now = await sync_to_async(get_presence().online)([kim.pk])
        if connected:
            await communicator.disconnect()
        return connected, online_now

    # A refused handshake never reaches the consumer: the user is not even marked present.
    assert async_to_sync(scenario)() == (accepted, {kim.pk} if accepted else set())


def test_the_socket_closes_with_4401_when_its_token_expires(user_factory):
    leo = user_factory(username="leo")
    expires = int(AccessToken().current_time.timestamp()) + 2

    async def scenario():
        communicator, connected, _ = await open_socket(f"/ws/?token={token_for(leo, exp=expires)}")
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from(timeout=5)
        closed = await communicator.receive_output(timeout=10)
        await communicator.disconnect(code=4401)  # what the server reports after the close handshake
        return connected, pong, closed, await sync_to_async(get_presence().online)([leo.pk])

    assert async_to_sync(scenario)() == (
        True, {"type": "pong"}, {"type": "websocket.close", "code": 4401, "reason": "token expired"}, set()
    )


def test_auth_with_a_fresh_token_extends_the_socket_and_bad_ones_are_refused(user_factory):
    mia, ned = user_factory(username="mia"), user_factory(username="ned")
    now = int(AccessToken().current_time.timestamp())
    fresh = token_for(mia, exp=now + 600)

    async def scenario():
        communicator, _, _ = await open_socket(f"/ws/?token={token_for(mia, exp=now + 2)}")
        replies = []
        for data in ({"token": token_for(ned)}, {"token": "not.a.jwt"}, {"token": 42}, None, {"token": fresh}):
            await communicator.send_json_to({"type": "auth", "data": data} if data is not None else {"type": "auth"})
            replies.append(await communicator.receive_json_from(timeout=5))
        await asyncio.sleep(3)  # past the first token's expiry
        await communicator.send_json_to({"type": "ping"})
        replies.append(await communicator.receive_json_from(timeout=5))
        await communicator.disconnect()
        return replies

    invalid = {"type": "error", "data": {"code": "invalid_token"}}
    expires_at = datetime.fromtimestamp(now + 600, UTC).isoformat().replace("+00:00", "Z")
    assert async_to_sync(scenario)() == [
        invalid, invalid, invalid, invalid, {"type": "auth.ok", "data": {"expires_at": expires_at}}, {"type": "pong"}
    ]


def test_an_idle_socket_outlives_its_group_membership_thanks_to_the_heartbeat(user_factory, monkeypatch):
    # Given a heartbeat every second and memberships that expire after 2 s without one
    olga = user_factory(username="olga")
    monkeypatch.setattr(sessions, "HEARTBEAT_INTERVAL", 1)
    layer = get_channel_layer()
    monkeypatch.setattr(layer, "group_expiry", 2)

    async def scenario():
        communicator, _, _ = await open_socket(f"/ws/?token={token_for(olga)}")
        # When the socket stays idle for three membership lifetimes
        await asyncio.sleep(6)
        sent = await sync_to_async(push_to_users)([olga.pk], {"type": "notification.created", "data": {"id": "n9"}})
        frame = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return sent, frame

    # Then it still receives its pushes
    assert async_to_sync(scenario)() == (1, {"type": "notification.created", "data": {"id": "n9"}, "seq": 1})


def test_300_sockets_opening_at_once_all_connect_on_a_bounded_pool(user_factory):
    users = [user_factory(username=f"crowd{n}") for n in range(300)]

    async def scenario():
        communicators = [WebsocketCommunicator(application, f"/ws/?token={token_for(u)}") for u in users]
        results = await asyncio.gather(*(c.connect(timeout=30) for c in communicators))
        sent = await sync_to_async(push_messages)(
            [(u.pk, {"type": "notification.created", "data": {"id": f"n{u.pk}"}}) for u in users]
        )
        frames = [await c.receive_json_from(timeout=10) for c in communicators]
        await asyncio.gather(*(c.disconnect() for c in communicators))
        return [ok for ok, _ in results], sent, frames

    connected, sent, frames = async_to_sync(scenario)()
    assert connected == [True] * 300
    assert sent == 300
    assert [f["data"]["id"] for f in frames] == [f"n{u.pk}" for u in users]
