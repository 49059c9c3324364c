"""Deactivating, reactivating and asking for deletion (README "Account lifecycle"): the account
and everything it wrote disappear from every read path for everybody else, its sessions end,
its sockets close; a reactivation brings all of it back. Bad input next to each good case.

Transactional tests: the in-process bus dispatches after commit and Celery is eager, so the
trends and feed-cache handlers of ``user.deactivated`` / ``user.reactivated`` run at once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from bellamy.accounts import lifecycle
from bellamy.accounts.models import TokenFamily
from bellamy.events.models import OutboxEvent
from feed.cache import feed_version
from graph.services import block_create
from moderation.services import moderator_add, moderators_group_sync, user_suspend, user_unsuspend
from posts import services as post_services
from tests.accounts.world import PASSWORD, befriend, login
from trends.models import HashtagBucket

pytestmark = pytest.mark.django_db(transaction=True)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    body = response.json()
    return [item["id"] for item in (body["results"] if isinstance(body, dict) else body)]


def lifecycle_events() -> list[tuple[str, dict]]:
    return [(row.type, row.payload["data"]) for row in OutboxEvent.objects.filter(type__startswith="user.").order_by("id")]


def read_paths(ann, cid, leaver, posts) -> dict:
    """Everything of the leaver that ann (a friend) and cid (a friend of ann only) can see."""
    p_public, p_friends, a_post, a_mention = posts
    ann_client, cid_client = login(ann.username), login(cid.username)
    notifications = ann_client.get("/api/notifications/").json()["results"]
    return {
        "profile": ann_client.get(f"/api/users/{leaver.pk}").status_code,
        "user_posts": ann_client.get(f"/api/Post/users/{leaver.pk}").status_code,
        "post": ann_client.get(f"/api/posts/{p_public.pk}").status_code,
        "feed": [p for p in ids(ann_client.get("/api/feed/?order=recent")) if p in (p_public.pk, p_friends.pk)],
        "feed_ranked": sorted(p for p in ids(ann_client.get("/api/feed/")) if p in (p_public.pk, p_friends.pk)),
        "hashtag": ids(ann_client.get("/api/trends/hashtags/golden/posts")),
        "bucket": list(HashtagBucket.objects.filter(hashtag__name="golden").values_list("uses", "authors")),
        "comments": [c["author"]["username"] for c in ann_client.get(f"/api/posts/{a_post.pk}/comments").json()["results"]],
        "mentions": [u["username"] for u in ann_client.get(f"/api/posts/{a_mention.pk}").json()["mentions"]],
        "search": [u["username"] for u in ann_client.get("/api/users/?search=lea").json()["results"]],
        "friends": [u["username"] for u in ann_client.get("/api/friends/").json()["results"]],
        "friends_count": ann_client.get(f"/api/users/{ann.pk}").json()["friends_count"],
        "suggested": [s["user"]["username"] for s in cid_client.get("/api/friends/suggestions").json()],
        "notifications": sorted((n["type"], tuple(a["username"] for a in n["actors"]), n["actor_count"])
                                for n in notifications),
    }


@pytest.fixture
def scene(user_factory):
    """leaver and ann are friends, ann and cid are friends (cid is suggested leaver); leaver
    posts (public with #golden, friends-only), comments and likes ann's post; ann mentions
    leaver in a post."""
    leaver, ann, cid = (user_factory(username=name) for name in ("leaver", "ann", "cid"))
    befriend(leaver, ann)
    befriend(ann, cid)
    p_public = post_services.post_create(author=leaver, content="Sunset #golden")
    p_friends = post_services.post_create(author=leaver, content="For friends", visibility="friends")
    a_post = post_services.post_create(author=ann, content="Also #golden")
    post_services.post_like(post=a_post, user=leaver)
    post_services.comment_create(post=a_post, author=leaver, content="Nice")
    post_services.comment_create(post=a_post, author=cid, content="Yes")
    a_mention = post_services.post_create(author=ann, content="Coffee with @leaver and @cid?")
    return leaver, ann, cid, (p_public, p_friends, a_post, a_mention)


def visible_state(scene_posts, leaver, ann, cid) -> dict:
    p_public, p_friends, a_post, a_mention = scene_posts
    return {
        "profile": 200, "user_posts": 200, "post": 200,
        "feed": [p_friends.pk, p_public.pk], "feed_ranked": sorted([p_friends.pk, p_public.pk]),
        "hashtag": [a_post.pk, p_public.pk], "bucket": [(2, 2)],
        "comments": ["leaver", "cid"], "mentions": ["leaver", "cid"], "search": ["leaver"],
        "friends": ["cid", "leaver"], "friends_count": 2, "suggested": ["leaver"],
        "notifications": sorted([
            ("friend_accepted", ("cid",), 1), ("friend_request", ("leaver",), 1),
            ("friend_posted", ("leaver",), 1), ("friend_posted", ("leaver",), 1),
            ("post_liked", ("leaver",), 1), ("post_commented", ("cid", "leaver"), 2),
        ]),
    }


def test_deactivation_hides_the_account_everywhere_and_reactivation_brings_it_back(scene):
    leaver, ann, cid, posts = scene
    visible = visible_state(posts, leaver, ann, cid)
    assert read_paths(ann, cid, leaver, posts) == visible
    session = APIClient().post("/api/auth/token", {"username": "leaver", "password": PASSWORD}, format="json").json()

    # when the leaver deactivates their account
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access']}")
    response = client.post("/api/users/me/deactivate", {"password": PASSWORD}, format="json")

    # then it is gone from every read path of everybody else
    assert response.status_code == 204, response.content
    assert read_paths(ann, cid, leaver, posts) == {
        "profile": 404, "user_posts": 404, "post": 404, "feed": [], "feed_ranked": [],
        "hashtag": [posts[2].pk], "bucket": [(1, 1)], "comments": ["cid"], "mentions": ["cid"], "search": [],
        "friends": ["cid"], "friends_count": 1, "suggested": [],
        # what only the leaver acted in is left out; the comment group loses one actor
        "notifications": sorted([("friend_accepted", ("cid",), 1), ("post_commented", ("cid",), 1)]),
    }
    # and its session is over: access and refresh tokens are refused, login too
    assert client.get("/api/users/me").status_code == 401
    assert APIClient().post("/api/auth/token/refresh", {"refresh": session["refresh"]}, format="json").status_code == 401
    assert APIClient().post("/api/auth/token", {"username": "leaver", "password": PASSWORD},
                            format="json").status_code == 401
    leaver.refresh_from_db()
    assert (leaver.is_active, leaver.deactivated_at is not None, leaver.deletion_due_at) == (False, True, None)
    assert lifecycle_events() == [("user.deactivated", {"user_id": leaver.pk, "cause": "self"})]

    # when the leaver comes back with their password
    response = APIClient().post("/api/auth/reactivate", {"username": "LEAVER", "password": PASSWORD}, format="json")

    # then a new session starts and everything is back
    assert response.status_code == 200, response.content
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert fresh.get("/api/users/me").json()["username"] == "leaver"
    assert read_paths(ann, cid, leaver, posts) == visible
    # the old session stays dead: its token family was revoked, so its access token is refused
    # although the account is active again, and so is its refresh token
    assert client.get("/api/users/me").status_code == 401
    assert APIClient().post("/api/auth/token/refresh", {"refresh": session["refresh"]}, format="json").status_code == 401
    assert sorted(TokenFamily.objects.filter(user=leaver).values_list("revoked_reason", flat=True)) == ["", "deactivation"]
    assert lifecycle_events()[-1] == ("user.reactivated", {"user_id": leaver.pk, "cause": "self"})


def test_deactivate_refuses_a_missing_or_wrong_password_and_changes_nothing(user_factory):
    user = user_factory(username="keeper")
    client = login("keeper")
    for body, errors in [
        ({}, {"password": ["This field is required."]}),
        ({"password": "wrong password"}, {"password": ["Wrong password."]}),
        ({"password": 12345}, {"password": ["Not a valid string."]}),
    ]:
        for path in ("/api/users/me/deactivate", "/api/users/me/deletion"):
            response = client.post(path, body, format="json")
            assert (response.status_code, response.json()) == (400, errors)
    assert APIClient().post("/api/users/me/deactivate", {"password": PASSWORD}, format="json").status_code == 401
    user.refresh_from_db()
    assert (user.is_active, user.deactivated_at, user.deletion_due_at) == (True, None, None)
    assert lifecycle_events() == []
    assert client.get("/api/users/me").status_code == 200


def reactivate(username: str, password: str = PASSWORD):
    return APIClient().post("/api/auth/reactivate", {"username": username, "password": password}, format="json")


def test_reactivate_answers_each_refusal_with_its_status_and_changes_nothing(user_factory):
    moderators_group_sync()
    moderator = user_factory(username="mod")
    moderator_add(user=moderator)
    active = user_factory(username="active")
    gone = user_factory(username="gone")
    lifecycle.account_deactivate(user=gone)
    before = lifecycle_events()
    for username, password, status, body in [
        ("gone", "wrong password", 401, {"detail": "No account with these credentials.", "code": "invalid_credentials"}),
        ("nobody", PASSWORD, 401, {"detail": "No account with these credentials.", "code": "invalid_credentials"}),
        ("active", PASSWORD, 409, {"detail": "This account is not deactivated.", "code": "not_deactivated"}),
    ]:
        response = reactivate(username, password)
        assert (response.status_code, response.json()) == (status, body)
    for body in ({"username": "gone"}, {"username": 7, "password": PASSWORD}, {}):
        assert APIClient().post("/api/auth/reactivate", body, format="json").status_code == 400
    # a deactivated account that a moderator suspended meanwhile stays closed to its owner
    user_suspend(user=gone, moderator=moderator, reason="spam wave")
    response = reactivate("gone")
    assert (response.status_code, response.json()["code"]) == (403, "account_suspended")
    gone.refresh_from_db()
    active.refresh_from_db()
    assert (gone.is_active, active.is_active) == (False, True)
    assert lifecycle_events() == before  # the suspension of an inactive account publishes nothing


def test_suspension_and_deactivation_are_separate_reasons(user_factory):
    moderators_group_sync()
    moderator = user_factory(username="mod")
    moderator_add(user=moderator)
    user = user_factory(username="both")
    # deactivated by its owner, then suspended
    lifecycle.account_deactivate(user=user)
    user_suspend(user=user, moderator=moderator, reason="abuse")
    # the unsuspension does not reactivate what the owner deactivated
    user_unsuspend(user=user, moderator=moderator, reason="appeal")
    user.refresh_from_db()
    assert (user.is_active, user.suspended_at, user.deactivated_at is not None) == (False, None, True)
    # the owner reactivates: now it is active
    assert reactivate("both").status_code == 200
    user.refresh_from_db()
    assert user.is_active is True
    assert lifecycle_events() == [
        ("user.deactivated", {"user_id": user.pk, "cause": "self"}),
        ("user.reactivated", {"user_id": user.pk, "cause": "self"}),
    ]


def test_deletion_request_deactivates_now_and_a_reactivation_cancels_it(user_factory, settings):
    settings.BELLAMY_ACCOUNT_DELETION_GRACE_DAYS = 30
    user = user_factory(username="maybe")
    before = timezone.now()
    response = login("maybe").post("/api/users/me/deletion", {"password": PASSWORD}, format="json")
    assert response.status_code == 202, response.content
    user.refresh_from_db()
    assert user.is_active is False
    assert before + timedelta(days=30) <= user.deletion_due_at <= timezone.now() + timedelta(days=30)
    assert response.json() == {"deletion_due_at": user.deletion_due_at.isoformat().replace("+00:00", "Z")}
    assert lifecycle.accounts_erase_due() == []  # not due yet
    # the owner changes their mind within the grace period
    assert reactivate("maybe").status_code == 200
    user.refresh_from_db()
    assert (user.is_active, user.deactivated_at, user.deletion_due_at, user.erased_at) == (True, None, None, None)
    assert lifecycle_events() == [
        ("user.deactivated", {"user_id": user.pk, "cause": "deletion"}),
        ("user.reactivated", {"user_id": user.pk, "cause": "self"}),
    ]


def test_deactivation_closes_the_users_sockets(user_factory):
    from bellamy.asgi import application

    leaver, friend = user_factory(username="leaver"), user_factory(username="friend")
    befriend(leaver, friend)

    async def scenario():
        tab = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(leaver)}")
        other = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(friend)}")
        assert (await tab.connect(timeout=5))[0] and (await other.connect(timeout=5))[0]
        from asgiref.sync import sync_to_async

        version = await sync_to_async(feed_version)(friend.pk)
        await sync_to_async(lifecycle.account_deactivate)(user=leaver)
        closed = await tab.receive_output(timeout=5)
        # the friend's feed changed (the leaver's posts left it): its version moved (the
        # feed.updated push itself is rate-limited per viewer, and the friendship was just
        # pushed one); the friend's socket stays open
        updated = await sync_to_async(feed_version)(friend.pk) != version
        await other.send_json_to({"type": "ping"})
        pong = await other.receive_json_from(timeout=5)
        await other.disconnect()
        # a new socket with the old token is refused
        again = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(leaver)}")
        await again.connect(timeout=5)
        refused = await again.receive_output(timeout=5)
        return closed, updated, pong, refused

    assert async_to_sync(scenario)() == (
        {"type": "websocket.close", "code": 4401}, True, {"type": "pong"},
        {"type": "websocket.close", "code": 4401},
    )


def test_a_block_or_a_friend_request_to_a_deactivated_account_is_a_404(user_factory):
    user_factory(username="asker")
    target = user_factory(username="target")
    lifecycle.account_deactivate(user=target)
    client = login("asker")
    response = client.post("/api/friends/requests", {"to_user_id": target.pk}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "user_not_found")
    # blocking stays possible (inactive users can be blocked: API.md), and is kept on reactivation
    block_create(blocker=type(target).objects.get(username="asker"), blocked_id=target.pk)
    assert reactivate("target").status_code == 200
    assert client.get(f"/api/users/{target.pk}").json()["friendship_status"] == "blocked"
