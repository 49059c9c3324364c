"""Suspending users: no login, no access with existing tokens, no refresh, sockets closed."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from moderation.services import user_suspend, user_unsuspend
from tests.moderation.helpers import audit, events

PASSWORD = "correct-horse-battery"


def login(username: str):
    return APIClient().post("/api/auth/token", {"username": username, "password": PASSWORD}, format="json")


def refresh(raw: str):
    return APIClient().post("/api/auth/token/refresh", {"refresh": raw}, format="json")


@pytest.mark.django_db
def test_suspended_user_cannot_log_in_use_tokens_or_refresh(moderator, user_factory, client_for):
    # given a user with two sessions (two refresh tokens) and a working access token
    troll = user_factory(username="troll")
    sessions = [login("troll").json() for _ in range(2)]
    other = user_factory(username="bystander")
    other_session = login("bystander").json()
    assert APIClient().get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {sessions[0]['access']}").status_code == 200
    # when a moderator suspends the user
    action = user_suspend(user=troll, moderator=moderator, reason="harassment")
    # then the account is inactive, both refresh tokens are blacklisted, one audit row exists
    troll.refresh_from_db()
    assert troll.is_active is False
    assert BlacklistedToken.objects.filter(token__user=troll).count() == 2
    assert BlacklistedToken.objects.filter(token__user=other).count() == 0
    assert audit() == [(moderator.pk, "user_suspend", None, None, troll.pk, "harassment")]
    assert action.target_user_id == troll.pk
    assert events() == [("user.deactivated", str(troll.pk), moderator.pk, {"user_id": troll.pk, "cause": "suspension"})]
    # and every way in answers 401
    assert login("troll").status_code == 401
    me = APIClient().get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {sessions[0]['access']}")
    assert (me.status_code, me.json()["code"]) == (401, "user_inactive")
    assert client_for(troll).get("/api/feed/").status_code == 401
    for session in sessions:
        assert refresh(session["refresh"]).status_code == 401
    # while other users are unaffected
    assert refresh(other_session["refresh"]).status_code == 200


@pytest.mark.django_db
def test_unsuspended_user_logs_in_again_but_old_refresh_tokens_stay_dead(moderator, user_factory):
    troll = user_factory(username="troll")
    old = login("troll").json()
    user_suspend(user=troll, moderator=moderator, reason="spam")
    # when unsuspended
    action = user_unsuspend(user=troll, moderator=moderator, reason="appeal")
    # then they can log in, the new tokens work, the old refresh token does not
    troll.refresh_from_db()
    assert troll.is_active is True
    assert action.action == "user_unsuspend"
    fresh = login("troll")
    assert fresh.status_code == 200
    assert refresh(fresh.json()["refresh"]).status_code == 200
    assert refresh(old["refresh"]).status_code == 401
    assert [row[1] for row in audit()] == ["user_suspend", "user_unsuspend"]


@pytest.mark.django_db
def test_repeated_suspension_is_a_no_op(moderator, user_factory):
    troll = user_factory(username="troll")
    user_suspend(user=troll, moderator=moderator, reason="spam")
    RefreshToken.for_user(troll)  # a token issued later by some other path
    assert user_suspend(user=troll, moderator=moderator, reason="again") is None
    assert user_unsuspend(user=user_factory(username="fine"), moderator=moderator, reason="x") is None
    assert len(audit()) == 1
    assert OutstandingToken.objects.filter(user=troll, blacklistedtoken__isnull=True).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["plain_staff", "ordinary"])
def test_non_moderators_cannot_suspend(request, user_factory, who):
    actor = request.getfixturevalue("plain_staff") if who == "plain_staff" else user_factory(username="ordinary")
    troll = user_factory(username="troll")
    with pytest.raises(PermissionDenied):
        user_suspend(user=troll, moderator=actor, reason="x")
    troll.refresh_from_db()
    assert troll.is_active is True
    assert audit() == []


@pytest.mark.django_db
def test_only_superusers_suspend_staff_and_nobody_suspends_themselves(moderator, user_factory):
    staff = user_factory(username="colleague", is_staff=True)
    root = user_factory(username="root", is_staff=True, is_superuser=True)
    with pytest.raises(PermissionDenied, match="Only superusers"):
        user_suspend(user=staff, moderator=moderator, reason="x")
    with pytest.raises(PermissionDenied, match="yourself"):
        user_suspend(user=moderator, moderator=moderator, reason="x")
    with pytest.raises(PermissionDenied, match="yourself"):
        user_suspend(user=root, moderator=root, reason="x")
    assert user_suspend(user=staff, moderator=root, reason="compromised account") is not None
    staff.refresh_from_db()
    assert staff.is_active is False


@pytest.mark.django_db(transaction=True)
def test_suspension_closes_the_users_open_sockets_after_commit(moderator, user_factory):
    # given the user and a bystander each have an open socket
    from bellamy.asgi import application

    troll, bystander = user_factory(username="troll"), user_factory(username="bystander")

    async def scenario():
        troll_tab = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(troll)}")
        other_tab = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(bystander)}")
        assert (await troll_tab.connect(timeout=5))[0] and (await other_tab.connect(timeout=5))[0]
        # when the user is suspended
        await sync_to_async(user_suspend)(user=troll, moderator=moderator, reason="threats")
        # then their socket is closed with 4401 and the bystander's stays open
        closed = await troll_tab.receive_output(timeout=5)
        await other_tab.send_json_to({"type": "ping"})
        pong = await other_tab.receive_json_from(timeout=5)
        await other_tab.disconnect()
        return closed, pong

    assert async_to_sync(scenario)() == ({"type": "websocket.close", "code": 4401}, {"type": "pong"})
