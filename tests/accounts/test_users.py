"""Profiles and search: /api/users/me, /api/users/{id}, /api/users/?search=."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from graph.models import Block, FriendRequest, Friendship
from tests.accounts.conftest import iso, user_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(user_factory):
    return user_factory(username="alice", display_name="Alice A.", bio="Hi")


@pytest.fixture
def bob(user_factory):
    return user_factory(username="bob", display_name="Bobby")


def befriend(a, b):
    low, high = sorted((a.pk, b.pk))
    Friendship.objects.create(user_low_id=low, user_high_id=high)


class TestMe:
    def test_get_includes_email(self, client_for, alice):
        # when
        response = client_for(alice).get("/api/users/me")
        # then
        assert response.status_code == 200
        assert response.json() == {
            "id": alice.pk,
            "username": "alice",
            "email": "alice@example.org",
            "display_name": "Alice A.",
            "bio": "Hi",
            "date_joined": iso(alice.date_joined),
        }

    def test_patch_updates_profile_and_ignores_unknown_fields(self, client_for, alice):
        # when
        response = client_for(alice).patch(
            "/api/users/me",
            {"display_name": "  Al  ", "bio": "x" * 500, "username": "mallory", "email": "m@x.org", "id": 9},
            format="json",
        )
        # then
        alice.refresh_from_db()
        assert response.status_code == 200
        assert response.json() == {
            "id": alice.pk,
            "username": "alice",
            "email": "alice@example.org",
            "display_name": "Al",
            "bio": "x" * 500,
            "date_joined": iso(alice.date_joined),
        }
        assert (alice.username, alice.email, alice.display_name) == ("alice", "alice@example.org", "Al")

    def test_patch_one_field_keeps_the_other(self, client_for, alice):
        # when
        response = client_for(alice).patch("/api/users/me", {"bio": ""}, format="json")
        # then
        alice.refresh_from_db()
        assert response.status_code == 200
        assert (alice.display_name, alice.bio) == ("Alice A.", "")

    @pytest.mark.parametrize(
        "payload, field",
        [
            ({"display_name": "x" * 101}, "display_name"),
            ({"bio": "x" * 501}, "bio"),
            ({"display_name": 5}, "display_name"),
            ({"display_name": None}, "display_name"),
            ({"bio": ["a"]}, "bio"),
            ({"bio": True}, "bio"),
            ({"bio": {"a": 1}}, "bio"),
        ],
    )
    def test_patch_rejects_bad_values_and_changes_nothing(self, client_for, alice, payload, field):
        # when
        response = client_for(alice).patch("/api/users/me", payload, format="json")
        # then
        alice.refresh_from_db()
        assert response.status_code == 400
        assert list(response.json()) == [field]
        assert (alice.display_name, alice.bio) == ("Alice A.", "Hi")

    @pytest.mark.parametrize("payload", ["{", "[1]", "null"])
    def test_patch_malformed_or_non_object_is_400(self, client_for, alice, payload):
        response = client_for(alice).patch("/api/users/me", payload, content_type="application/json")
        alice.refresh_from_db()
        assert response.status_code == 400
        assert (alice.display_name, alice.bio) == ("Alice A.", "Hi")

    @pytest.mark.parametrize("method", ["get", "patch"])
    def test_anonymous_is_401(self, api_client, method):
        response = getattr(api_client, method)("/api/users/me", {}, format="json")
        assert response.status_code == 401


class TestProfile:
    def body(self, user, friends_count, status):
        data = user_json(user)
        del data["date_joined"]
        return {**data, "friends_count": friends_count, "friendship_status": status}

    @pytest.mark.parametrize(
        "relation, status",
        [
            ("none", "none"),
            ("friends", "friends"),
            ("request_sent", "request_sent"),
            ("request_received", "request_received"),
            ("i_blocked", "blocked"),
        ],
    )
    def test_friendship_status(self, client_for, alice, bob, user_factory, relation, status):
        # given: bob has one other friend
        befriend(bob, user_factory())
        if relation == "friends":
            befriend(alice, bob)
        elif relation == "request_sent":
            FriendRequest.objects.create(from_user=alice, to_user=bob)
        elif relation == "request_received":
            FriendRequest.objects.create(from_user=bob, to_user=alice)
        elif relation == "i_blocked":
            Block.objects.create(blocker=alice, blocked=bob)
        # when
        response = client_for(alice).get(f"/api/users/{bob.pk}")
        # then
        assert response.status_code == 200
        assert response.json() == self.body(bob, 2 if relation == "friends" else 1, status)

    def test_self(self, client_for, alice):
        response = client_for(alice).get(f"/api/users/{alice.pk}")
        assert response.json() == self.body(alice, 0, "self")

    @pytest.mark.parametrize("case", ["unknown", "inactive", "blocked_me", "blocked_both_ways"])
    def test_hidden_users_are_404(self, client_for, alice, bob, case):
        # given
        target = bob.pk
        if case == "unknown":
            target = bob.pk + 1000
        elif case == "inactive":
            bob.is_active = False
            bob.save()
        else:
            Block.objects.create(blocker=bob, blocked=alice)
            if case == "blocked_both_ways":
                Block.objects.create(blocker=alice, blocked=bob)
        # when
        response = client_for(alice).get(f"/api/users/{target}")
        # then
        assert response.status_code == 404
        assert response.json() == {"detail": "No such user.", "code": "user_not_found"}

    @pytest.mark.parametrize("path", ["/api/users/abc", "/api/users/1.5", "/api/users/99999999999999999999999"])
    def test_bad_ids_are_404(self, client_for, alice, path):
        response = client_for(alice).get(path)
        assert response.status_code == 404

    def test_anonymous_is_401(self, api_client, alice):
        assert api_client.get(f"/api/users/{alice.pk}").status_code == 401


class TestSearch:
    URL = "/api/users/"

    def test_prefix_on_username_or_display_name_case_insensitive(self, client_for, user_factory):
        # given
        me = user_factory(username="me_myself", display_name="Me")
        annie = user_factory(username="annie", display_name="Z")
        anna = user_factory(username="Anna", display_name="Q")
        zed = user_factory(username="zed", display_name="Anneliese")
        user_factory(username="bob", display_name="Hannah")
        # when
        response = client_for(me).get(self.URL, {"search": "ANN"})
        # then
        assert response.status_code == 200
        assert response.json() == {
            "results": [user_json(u) for u in sorted([annie, anna, zed], key=lambda u: u.username)],
            "next_cursor": None,
        }

    def test_leaves_out_inactive_and_blocked_either_way(self, client_for, user_factory):
        # given
        me = user_factory(username="viewer")
        visible = user_factory(username="sam1")
        user_factory(username="sam2", is_active=False)
        i_blocked = user_factory(username="sam3")
        blocked_me = user_factory(username="sam4")
        Block.objects.create(blocker=me, blocked=i_blocked)
        Block.objects.create(blocker=blocked_me, blocked=me)
        # when
        response = client_for(me).get(self.URL, {"search": "sam"})
        # then
        assert [u["id"] for u in response.json()["results"]] == [visible.pk]

    def test_like_wildcards_match_literally(self, client_for, user_factory):
        # given
        me = user_factory(username="viewer")
        user_factory(username="a_b")
        user_factory(username="axb")
        # when
        response = client_for(me).get(self.URL, {"search": "a_"})
        # then
        assert [u["username"] for u in response.json()["results"]] == ["a_b"]

    def test_pages_with_cursor(self, client_for, user_factory):
        # given
        me = user_factory(username="viewer")
        for n in range(3):
            user_factory(username=f"kim{n}")
        client = client_for(me)
        # when
        page1 = client.get(self.URL, {"search": "kim", "limit": 2}).json()
        page2 = client.get(self.URL, {"search": "kim", "limit": 2, "cursor": page1["next_cursor"]}).json()
        # then
        assert [u["username"] for u in page1["results"]] == ["kim0", "kim1"]
        assert [u["username"] for u in page2["results"]] == ["kim2"]
        assert page2["next_cursor"] is None

    @pytest.mark.parametrize("params", [{}, {"search": ""}, {"search": "   "}, {"search": "x" * 51}])
    def test_bad_search_is_400(self, client_for, alice, params):
        response = client_for(alice).get(self.URL, params)
        assert response.status_code == 400
        assert list(response.json()) == ["search"]

    def test_fifty_characters_are_accepted(self, client_for, alice):
        response = client_for(alice).get(self.URL, {"search": "x" * 50})
        assert response.json() == {"results": [], "next_cursor": None}

    @pytest.mark.parametrize("limit", ["0", "1000000", "abc"])
    def test_bad_limit_is_400(self, client_for, alice, limit):
        response = client_for(alice).get(self.URL, {"search": "a", "limit": limit})
        assert response.status_code == 400
        assert response.json() == {"limit": ["Must be an integer between 1 and 100."]}

    def test_anonymous_is_401(self, api_client):
        assert api_client.get(self.URL, {"search": "a"}).status_code == 401

    def test_query_count_is_constant(self, client_for, user_factory):
        # given
        me = user_factory(username="viewer")
        client = client_for(me)

        def count() -> int:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(self.URL, {"search": "pat"}).status_code == 200
            return len(ctx.captured_queries)

        for n in range(2):
            user_factory(username=f"pat{n}")
        few = count()
        for n in range(2, 20):
            user_factory(username=f"pat{n}")
        # when
        many = count()
        # then: authentication + the page
        assert (few, many) == (2, 2)
