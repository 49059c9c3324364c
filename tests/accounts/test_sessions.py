"""Sessions end for real: after a logout, a reused refresh token, a password change or a
suspension, the tokens issued before are refused on REST and on /ws/ from that moment — not
when they expire (djangorestframework-simplejwt issue #744) — at the cost of one cache read per
request."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken

from bellamy.accounts import services, tokens
from bellamy.accounts.models import TokenFamily
from bellamy.asgi import application
from moderation.services import user_suspend, user_unsuspend

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "a brand new passphrase 77"
REVOKED = {"detail": "This session has ended; log in again.", "code": "token_revoked"}


@pytest.fixture
def alice(user_factory):
    return user_factory(username="alice")


@pytest.fixture
def closed(monkeypatch):
    """The user ids whose sockets a service closed (after commit)."""
    calls = []
    monkeypatch.setattr(services, "close_user_sockets", calls.append)
    return calls


def login(username: str = "alice", password: str = PASSWORD) -> dict:
    response = APIClient().post("/api/auth/token", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def me(access: str):
    return APIClient().get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {access}")


def refresh(raw: str):
    return APIClient().post("/api/auth/token/refresh", {"refresh": raw}, format="json")


def logout(access: str, raw_refresh: str):
    return APIClient().post("/api/auth/logout", {"refresh": raw_refresh}, format="json",
                            HTTP_AUTHORIZATION=f"Bearer {access}")


def socket_answer(access: str) -> dict:
    """What /ws/ answers first to a handshake with ``access``: a pong (accepted) or the close."""
    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/?token={access}")
        await communicator.connect(timeout=5)
        await communicator.send_json_to({"type": "ping"})
        output = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        return output

    return async_to_sync(scenario)()


PONG = {"type": "websocket.send", "text": '{"type":"pong"}'}  # frames are compact JSON (orjson)
CLOSED_4401 = {"type": "websocket.close", "code": 4401}


class TestLogout:
    def test_ends_the_session_on_rest_and_ws_at_once(self, alice, closed):
        # given: a session whose refresh token R1 was rotated into R2
        first = login()
        second = refresh(first["refresh"]).json()
        assert me(second["access"]).status_code == 200
        assert socket_answer(second["access"]) == PONG
        # when: the client logs out with the old R1
        response = logout(second["access"], first["refresh"])
        # then: 204, and every token of the session is refused from now on
        assert response.status_code == 204
        for access in (first["access"], second["access"]):
            assert (me(access).status_code, me(access).json()) == (401, REVOKED)
            assert socket_answer(access) == CLOSED_4401
        assert refresh(second["refresh"]).status_code == 401
        assert closed == [alice.pk]
        assert TokenFamily.objects.get().revoked_reason == "logout"

    def test_other_sessions_of_the_user_go_on(self, alice, closed):
        phone, laptop = login(), login()
        assert logout(phone["access"], phone["refresh"]).status_code == 204
        assert me(phone["access"]).status_code == 401
        assert me(laptop["access"]).status_code == 200
        assert socket_answer(laptop["access"]) == PONG
        assert refresh(laptop["refresh"]).status_code == 200

    def test_a_new_login_in_the_same_second_works(self, alice, closed):
        # iat has one-second resolution: nothing here compares it with the logout's time.
        old = login()
        assert logout(old["access"], old["refresh"]).status_code == 204
        new = login()
        assert AccessToken(new["access"])["iat"] - AccessToken(old["access"])["iat"] in (0, 1)
        assert me(new["access"]).status_code == 200
        assert socket_answer(new["access"]) == PONG
        assert me(old["access"]).status_code == 401

    def test_logging_out_twice_is_400_and_changes_nothing(self, alice, closed):
        session = login()
        other = login()
        assert logout(session["access"], session["refresh"]).status_code == 204
        blacklisted = BlacklistedToken.objects.count()
        # when: the same refresh token again (with another session's access token)
        response = logout(other["access"], session["refresh"])
        # then
        assert response.status_code == 400
        assert response.json() == {"refresh": ["Token is blacklisted"]}
        assert BlacklistedToken.objects.count() == blacklisted
        assert TokenFamily.objects.filter(revoked_at__isnull=True).count() == 1
        assert closed == [alice.pk]


class TestRevocationCheck:
    def test_costs_one_cache_read_and_no_database_query_when_warm(self, alice):
        # given: a session whose state is cached
        session = login()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access']}")
        client.get("/api/users/me")
        # when
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/users/me").status_code == 200
        # then: the one query is simplejwt's load of the user; the family is not read
        assert [q["sql"] for q in queries.captured_queries if "tokenfamily" in q["sql"]] == []
        assert len(queries.captured_queries) == 1
        assert cache.get(tokens.family_key(AccessToken(session["access"])["sid"])) == "live"

    def test_a_cache_miss_reads_the_database_and_still_refuses(self, alice, closed):
        session = login()
        assert logout(session["access"], session["refresh"]).status_code == 204
        cache.clear()  # evicted, or the cache restarted empty
        with CaptureQueriesContext(connection) as queries:
            assert me(session["access"]).json() == REVOKED
        assert len([q for q in queries.captured_queries if "accounts_tokenfamily" in q["sql"]]) == 1
        assert cache.get(tokens.family_key(AccessToken(session["access"])["sid"])) == "revoked"

    def test_a_reader_that_missed_cannot_overwrite_a_revocation(self, alice, closed):
        # given: a revocation committed and cached
        session = login()
        sid = AccessToken(session["access"])["sid"]
        assert logout(session["access"], session["refresh"]).status_code == 204
        # when: a reader that read the database before the commit caches what it saw
        cache.add(tokens.family_key(sid), tokens.LIVE)
        # then: the revocation stands
        assert me(session["access"]).json() == REVOKED

    def test_a_token_of_an_unknown_family_is_refused(self, alice):
        token = AccessToken.for_user(alice)
        token["sid"] = "00000000-0000-0000-0000-000000000000"
        assert me(str(token)).json() == REVOKED
        token["sid"] = "not-a-uuid"
        assert me(str(token)).json() == REVOKED


class TestPasswordChange:
    URL = "/api/auth/password"

    def change(self, access: str, body: dict):
        return APIClient().post(self.URL, body, format="json", HTTP_AUTHORIZATION=f"Bearer {access}")

    def test_changes_the_password_and_ends_every_session(self, alice, closed):
        # given: two sessions, one of them rotated
        phone, laptop = login(), login()
        laptop_rotated = refresh(laptop["refresh"]).json()
        # when
        response = self.change(phone["access"], {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        # then
        assert response.status_code == 204
        assert response.content == b""
        alice.refresh_from_db()
        assert alice.check_password(NEW_PASSWORD)
        for access in (phone["access"], laptop["access"], laptop_rotated["access"]):
            assert me(access).status_code == 401
            assert socket_answer(access) == CLOSED_4401
        for raw in (phone["refresh"], laptop_rotated["refresh"]):
            assert refresh(raw).status_code == 401
        assert set(TokenFamily.objects.values_list("revoked_reason", flat=True)) == {"password_change"}
        assert closed == [alice.pk]
        # and the new password logs in at once (same second), the old one no more
        new = login(password=NEW_PASSWORD)
        assert me(new["access"]).status_code == 200
        assert socket_answer(new["access"]) == PONG
        assert APIClient().post("/api/auth/token", {"username": "alice", "password": PASSWORD},
                                format="json").status_code == 401

    def test_tokens_minted_outside_a_session_are_refused_too(self, alice, closed):
        minted = str(AccessToken.for_user(alice))
        session = login()
        self.change(session["access"], {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert (me(minted).status_code, me(minted).json()["code"]) == (401, "password_changed")

    @pytest.mark.parametrize(
        ("body", "errors"),
        [
            ({"current_password": "wrong", "new_password": NEW_PASSWORD}, {"current_password": ["Wrong password."]}),
            ({"current_password": PASSWORD, "new_password": PASSWORD},
             {"new_password": ["Choose a password different from the current one."]}),
            ({"current_password": PASSWORD, "new_password": "passw0rd"}, {"new_password": ["This password is too common."]}),
            ({"current_password": PASSWORD, "new_password": "x7#kq"},
             {"new_password": ["This password is too short. It must contain at least 8 characters."]}),
            ({"current_password": PASSWORD, "new_password": "alice2026"},
             {"new_password": ["The password is too similar to the username."]}),
            ({"current_password": PASSWORD, "new_password": "83749261048"},
             {"new_password": ["This password is entirely numeric."]}),
            ({"current_password": PASSWORD}, {"new_password": ["This field is required."]}),
            ({"new_password": NEW_PASSWORD}, {"current_password": ["This field is required."]}),
            ({"current_password": PASSWORD, "new_password": 12345678}, {"new_password": ["Not a valid string."]}),
        ],
    )
    def test_bad_input_is_400_and_changes_nothing(self, alice, closed, body, errors):
        session = login()
        password_hash = alice.password
        # when
        response = self.change(session["access"], body)
        # then
        assert response.status_code == 400
        assert response.json() == errors
        alice.refresh_from_db()
        assert alice.password == password_hash
        assert me(session["access"]).status_code == 200
        assert TokenFamily.objects.filter(revoked_at__isnull=True).count() == 1
        assert closed == []

    def test_without_a_token_is_401(self, alice):
        response = APIClient().post(self.URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json")
        assert response.status_code == 401

    def test_is_throttled_per_user(self, alice, user_factory, monkeypatch):
        monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"password": "2/min", "token": "100/min"})
        session = login()
        for _ in range(2):
            assert self.change(session["access"], {"current_password": "wrong", "new_password": NEW_PASSWORD}).status_code == 400
        # when: a third try, even with the right password
        response = self.change(session["access"], {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        # then
        assert response.status_code == 429
        assert int(response["Retry-After"]) >= 1
        alice.refresh_from_db()
        assert alice.check_password(PASSWORD)
        # another user is not affected
        user_factory(username="bob")
        bob = login("bob")
        assert self.change(bob["access"], {"current_password": PASSWORD, "new_password": NEW_PASSWORD}).status_code == 204


class TestSuspension:
    def test_ends_every_session_and_unsuspension_does_not_revive_them(self, alice, user_factory, closed):
        moderator = user_factory(username="mod", is_superuser=True, is_staff=True)
        session = login()
        user_suspend(user=alice, moderator=moderator, reason="spam")
        assert me(session["access"]).status_code == 401
        assert socket_answer(session["access"]) == CLOSED_4401
        user_unsuspend(user=alice, moderator=moderator, reason="appeal")
        # then: the old session stays over; a new login works
        assert me(session["access"]).json() == REVOKED
        assert refresh(session["refresh"]).status_code == 401
        assert me(login()["access"]).status_code == 200
