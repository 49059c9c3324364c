"""JWT endpoints: /api/auth/token, /api/auth/token/refresh, /api/auth/logout; bad tokens."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from bellamy.accounts import services
from bellamy.accounts.models import TokenFamily
from tests.accounts.conftest import snapshot

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


@pytest.fixture
def alice(user_factory):
    return user_factory(username="alice")


@pytest.fixture
def bob(user_factory):
    return user_factory(username="bob")


def login(client, user) -> dict:
    response = client.post("/api/auth/token", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()


def other_key_token(token) -> str:
    """``token``'s claims signed with a key that is not ours."""
    return jwt.encode(dict(token.payload), "not-our-signing-key-0123456789abcdef", algorithm="HS256")


def expired(token_class, user) -> str:
    token = token_class.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=-1))
    return str(token)


class TestObtain:
    def test_returns_a_working_pair(self, api_client, alice):
        # when
        pair = login(api_client, alice)
        # then
        assert set(pair) == {"access", "refresh"}
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
        assert api_client.get("/api/users/me").json()["id"] == alice.pk

    @pytest.mark.parametrize(
        "credentials",
        [
            {"username": "alice", "password": "wrong"},
            {"username": "nobody", "password": PASSWORD},
            {"username": "ALICE", "password": PASSWORD},
        ],
    )
    def test_bad_credentials_are_401(self, api_client, alice, credentials):
        # when
        response = api_client.post("/api/auth/token", credentials, format="json")
        # then
        assert response.status_code == 401
        assert response.json()["code"] == "no_active_account"

    def test_inactive_user_is_401(self, api_client, alice):
        # given
        alice.is_active = False
        alice.save()
        # when
        response = api_client.post("/api/auth/token", {"username": "alice", "password": PASSWORD}, format="json")
        # then
        assert response.status_code == 401

    @pytest.mark.parametrize("payload", [{}, {"username": "alice"}, {"password": PASSWORD}])
    def test_missing_fields_are_400(self, api_client, alice, payload):
        response = api_client.post("/api/auth/token", payload, format="json")
        assert response.status_code == 400

    def test_malformed_json_is_400(self, api_client):
        response = api_client.post("/api/auth/token", "{", content_type="application/json")
        assert response.status_code == 400

    @pytest.mark.parametrize("url", ["/api/auth/token", "/api/auth/token/refresh", "/api/auth/register"])
    def test_json_nested_1000_levels_is_400_without_login(self, api_client, url):
        # given: 2 KB of nesting (RecursionError in the parser used to answer 500)
        raw = "[" * 1000 + "]" * 1000
        before = snapshot()
        # when
        response = api_client.post(url, raw, content_type="application/json")
        # then
        assert response.status_code == 400
        assert response.json() == {"detail": "JSON parse error - nested deeper than 32 levels.", "code": "parse_error"}
        assert snapshot() == before

    def test_is_throttled(self, api_client, alice, tight_throttles):
        # given
        login(api_client, alice)
        login(api_client, alice)
        # when
        response = api_client.post("/api/auth/token", {"username": "alice", "password": PASSWORD}, format="json")
        # then
        assert response.status_code == 429
        assert int(response["Retry-After"]) >= 1


class TestRefresh:
    URL = "/api/auth/token/refresh"

    def test_rotates_and_blacklists_the_old_refresh(self, api_client, alice):
        # given
        pair = login(api_client, alice)
        # when
        response = api_client.post(self.URL, {"refresh": pair["refresh"]}, format="json")
        # then
        assert response.status_code == 200
        fresh = response.json()
        assert set(fresh) == {"access", "refresh"}
        assert fresh["refresh"] != pair["refresh"]
        assert RefreshToken(fresh["refresh"])["user_id"] == str(alice.pk)
        old_jti = jwt.decode(pair["refresh"], options={"verify_signature": False})["jti"]
        assert BlacklistedToken.objects.filter(token__jti=old_jti).count() == 1
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
        assert api_client.get("/api/users/me").status_code == 200

    def test_reusing_a_rotated_refresh_is_401_and_ends_the_whole_family(
        self, api_client, alice, monkeypatch, django_capture_on_commit_callbacks
    ):
        # given: R1 rotated into R2 (and an access token A2); R1 leaked
        closed = []
        monkeypatch.setattr(services, "close_user_sockets", closed.append)
        pair = login(api_client, alice)
        fresh = api_client.post(self.URL, {"refresh": pair["refresh"]}, format="json").json()
        # when: somebody replays R1
        with django_capture_on_commit_callbacks(execute=True):
            reused = api_client.post(self.URL, {"refresh": pair["refresh"]}, format="json")
        # then: refused, and the family is over: R2 and every access token of it are refused
        assert reused.status_code == 401
        assert reused.json() == {"detail": "Token was already used; the session has ended", "code": "token_not_valid"}
        assert api_client.post(self.URL, {"refresh": fresh["refresh"]}, format="json").status_code == 401
        for access in (pair["access"], fresh["access"]):
            me = api_client.get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {access}")
            assert (me.status_code, me.json()["code"]) == (401, "token_revoked")
        assert TokenFamily.objects.get().revoked_reason == "reuse"
        assert closed == [alice.pk]
        # and a new login works (in the same second)
        again = login(api_client, alice)
        assert api_client.get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {again['access']}").status_code == 200

    def test_other_sessions_survive_a_reuse(self, api_client, alice):
        # given: two logins (two devices); device 1 rotates and its old token is replayed
        first, second = login(api_client, alice), login(api_client, alice)
        api_client.post(self.URL, {"refresh": first["refresh"]}, format="json")
        api_client.post(self.URL, {"refresh": first["refresh"]}, format="json")
        # then: device 2 is untouched
        assert api_client.get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {second['access']}").status_code == 200
        assert api_client.post(self.URL, {"refresh": second["refresh"]}, format="json").status_code == 200

    def test_a_refresh_keeps_the_family(self, api_client, alice):
        pair = login(api_client, alice)
        fresh = api_client.post(self.URL, {"refresh": pair["refresh"]}, format="json").json()
        claims = [jwt.decode(t, options={"verify_signature": False})["sid"] for t in (*pair.values(), *fresh.values())]
        assert len(set(claims)) == 1
        assert str(TokenFamily.objects.get().pk) == claims[0]

    @pytest.mark.parametrize("kind", ["garbage", "access", "expired", "other_key", "empty_jwt"])
    def test_bad_refresh_is_401_and_writes_nothing(self, api_client, alice, kind):
        # given
        raw = {
            "garbage": lambda: "not-a-token",
            "access": lambda: str(AccessToken.for_user(alice)),
            "expired": lambda: expired(RefreshToken, alice),
            "other_key": lambda: other_key_token(RefreshToken.for_user(alice)),
            "empty_jwt": lambda: "a.b.c",
        }[kind]()
        before = snapshot()
        # when
        response = api_client.post(self.URL, {"refresh": raw}, format="json")
        # then
        assert response.status_code == 401
        assert snapshot() == before

    def test_inactive_user_is_401(self, api_client, alice):
        # given
        pair = login(api_client, alice)
        alice.is_active = False
        alice.save()
        # when
        response = api_client.post(self.URL, {"refresh": pair["refresh"]}, format="json")
        # then
        assert response.status_code == 401
        assert response.json()["code"] == "no_active_account"
        assert BlacklistedToken.objects.count() == 0

    def test_deleted_user_is_401(self, api_client, alice):
        # given
        pair = login(api_client, alice)
        alice.delete()
        # when
        response = api_client.post(self.URL, {"refresh": pair["refresh"]}, format="json")
        # then
        assert response.status_code == 401

    @pytest.mark.parametrize("payload", [{}, {"refresh": 123}, {"refresh": None}, {"refresh": ""}])
    def test_bad_body_is_400(self, api_client, payload):
        response = api_client.post(self.URL, payload, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["refresh"]

    def test_shares_the_token_throttle(self, api_client, alice, tight_throttles):
        # given: one login and one refresh use the two allowed requests
        pair = login(api_client, alice)
        assert api_client.post(self.URL, {"refresh": pair["refresh"]}, format="json").status_code == 200
        # when
        response = api_client.post(self.URL, {"refresh": "whatever"}, format="json")
        # then
        assert response.status_code == 429
        assert int(response["Retry-After"]) >= 1


class TestLogout:
    URL = "/api/auth/logout"

    def test_blacklists_and_closes_sockets_after_commit(
        self, client_for, alice, monkeypatch, django_capture_on_commit_callbacks
    ):
        # given
        closed = []
        monkeypatch.setattr(services, "close_user_sockets", closed.append)
        refresh = RefreshToken.for_user(alice)
        # when
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = client_for(alice).post(self.URL, {"refresh": str(refresh)}, format="json")
        # then
        assert response.status_code == 204
        assert response.content == b""
        assert BlacklistedToken.objects.filter(token__jti=refresh["jti"]).count() == 1
        assert len(callbacks) == 1
        assert closed == [alice.pk]

    def test_logged_out_refresh_cannot_refresh(self, api_client, client_for, alice, monkeypatch):
        # given
        monkeypatch.setattr(services, "close_user_sockets", lambda user_id: None)
        refresh = str(RefreshToken.for_user(alice))
        client_for(alice).post(self.URL, {"refresh": refresh}, format="json")
        # when
        response = api_client.post("/api/auth/token/refresh", {"refresh": refresh}, format="json")
        # then
        assert response.status_code == 401

    def test_another_users_refresh_is_403(self, client_for, alice, bob, django_capture_on_commit_callbacks):
        # given
        refresh = str(RefreshToken.for_user(bob))
        client = client_for(alice)
        before = snapshot()
        # when
        with django_capture_on_commit_callbacks() as callbacks:
            response = client.post(self.URL, {"refresh": refresh}, format="json")
        # then
        assert response.status_code == 403
        assert response.json() == {"detail": "This refresh token belongs to another user.", "code": "token_not_owned"}
        assert snapshot() == before
        assert callbacks == []

    @pytest.mark.parametrize("kind", ["garbage", "access", "expired", "other_key", "blacklisted"])
    def test_bad_refresh_is_400(self, client_for, alice, kind):
        # given
        if kind == "blacklisted":
            token = RefreshToken.for_user(alice)
            token.blacklist()
            raw = str(token)
        else:
            raw = {
                "garbage": lambda: "garbage",
                "access": lambda: str(AccessToken.for_user(alice)),
                "expired": lambda: expired(RefreshToken, alice),
                "other_key": lambda: other_key_token(RefreshToken.for_user(alice)),
            }[kind]()
        client = client_for(alice)
        before = snapshot()
        # when
        response = client.post(self.URL, {"refresh": raw}, format="json")
        # then
        assert response.status_code == 400
        assert list(response.json()) == ["refresh"]
        assert snapshot() == before

    @pytest.mark.parametrize("payload", [{}, {"refresh": 5}])
    def test_bad_body_is_400(self, client_for, alice, payload):
        response = client_for(alice).post(self.URL, payload, format="json")
        assert response.status_code == 400

    def test_anonymous_is_401(self, api_client, alice):
        response = api_client.post(self.URL, {"refresh": str(RefreshToken.for_user(alice))}, format="json")
        assert response.status_code == 401


class TestAccessTokens:
    @pytest.mark.parametrize("kind", ["expired", "other_key", "garbage", "refresh_as_access", "inactive"])
    def test_bad_access_token_is_401(self, api_client, alice, kind):
        # given
        if kind == "inactive":
            raw = str(AccessToken.for_user(alice))
            alice.is_active = False
            alice.save()
        else:
            raw = {
                "expired": lambda: expired(AccessToken, alice),
                "other_key": lambda: other_key_token(AccessToken.for_user(alice)),
                "garbage": lambda: "garbage",
                "refresh_as_access": lambda: str(RefreshToken.for_user(alice)),
            }[kind]()
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        # when
        response = api_client.get("/api/users/me")
        # then
        assert response.status_code == 401
        assert response.json()["code"] in {"token_not_valid", "user_inactive"}
