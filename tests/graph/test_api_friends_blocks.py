"""Friends and blocks endpoints: /api/friends/, /api/users/{id}/friends, /api/friends/{id},
/api/blocks, /api/blocks/{id}."""

from __future__ import annotations

import pytest

from graph.models import Block, FriendRequest, Friendship
from tests.graph.conftest import count_queries, events, iso, snapshot, user_json

pytestmark = pytest.mark.django_db


def key(a, b) -> str:
    low, high = sorted((a.pk, b.pk))
    return f"{low}:{high}"


class TestMyFriends:
    def test_lists_active_friends_in_username_order(self, client_for, alice, bob, carol, user_factory, befriend):
        # given: alice's friends carol, bob and (suspended) zed; bob–carol are friends too
        zed = user_factory(username="zed", is_active=False)
        befriend(alice, carol)
        befriend(bob, alice)
        befriend(alice, zed)
        befriend(bob, carol)
        # when
        response = client_for(alice).get("/api/friends/")
        # then
        assert response.status_code == 200
        assert response.json() == {"results": [user_json(bob), user_json(carol)], "next_cursor": None}

    def test_pages_with_cursor(self, client_for, alice, user_factory, befriend):
        # given
        friends = [user_factory(username=f"f{i}") for i in range(3)]
        for friend in friends:
            befriend(alice, friend)
        client = client_for(alice)
        # when
        page1 = client.get("/api/friends/", {"limit": 2}).json()
        page2 = client.get("/api/friends/", {"limit": 2, "cursor": page1["next_cursor"]}).json()
        # then
        assert [u["username"] for u in page1["results"]] == ["f0", "f1"]
        assert [u["username"] for u in page2["results"]] == ["f2"]
        assert page2["next_cursor"] is None

    @pytest.mark.parametrize("path", ["/api/friends/", "/api/users/{id}/friends", "/api/blocks"])
    @pytest.mark.parametrize("limit", ["0", "1000000", "abc"])
    def test_bad_limit_is_400(self, client_for, alice, path, limit):
        response = client_for(alice).get(path.format(id=alice.pk), {"limit": limit})
        assert response.status_code == 400
        assert response.json() == {"limit": ["Must be an integer between 1 and 100."]}

    def test_query_count_is_constant(self, client_for, alice, user_factory, befriend):
        # given
        others = [user_factory() for _ in range(20)]
        client = client_for(alice)
        for other in others[:2]:
            befriend(alice, other)
        few = count_queries(lambda: client.get("/api/friends/"))
        for other in others[2:]:
            befriend(alice, other)
        # when
        many = count_queries(lambda: client.get("/api/friends/"))
        # then: authentication + the page
        assert (few, many) == (2, 2)


class TestUserFriends:
    def test_lists_friends_of_another_user_minus_those_blocked_with_me(
        self, client_for, alice, bob, carol, user_factory, befriend, block
    ):
        # given: bob's friends are alice, carol, dave; I (erin) blocked carol, dave blocked me
        dave = user_factory(username="dave")
        erin = user_factory(username="erin")
        for friend in (alice, carol, dave):
            befriend(bob, friend)
        block(erin, carol)
        block(dave, erin)
        # when
        response = client_for(erin).get(f"/api/users/{bob.pk}/friends")
        # then
        assert response.status_code == 200
        assert response.json() == {"results": [user_json(alice)], "next_cursor": None}

    @pytest.mark.parametrize(
        "relation, status_code",
        [("stranger", 200), ("friend", 200), ("self", 200), ("i_blocked", 404), ("blocked_me", 404),
         ("inactive", 404), ("unknown", 404)],
    )
    def test_matrix(self, client_for, alice, bob, carol, befriend, block, relation, status_code):
        # given: bob is friends with carol
        befriend(bob, carol)
        target = bob.pk
        if relation == "friend":
            befriend(alice, bob)
        elif relation == "self":
            target = alice.pk
            befriend(alice, carol)
        elif relation == "i_blocked":
            block(alice, bob)
        elif relation == "blocked_me":
            block(bob, alice)
        elif relation == "inactive":
            bob.is_active = False
            bob.save()
        elif relation == "unknown":
            target = carol.pk + 1000
        # when
        response = client_for(alice).get(f"/api/users/{target}/friends")
        # then
        assert response.status_code == status_code
        if status_code == 200:
            assert user_json(carol) in response.json()["results"]
        else:
            assert response.json() == {"detail": "No such user.", "code": "user_not_found"}

    def test_non_numeric_id_is_404(self, client_for, alice):
        response = client_for(alice).get("/api/users/abc/friends")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    def test_query_count_is_constant(self, client_for, alice, bob, user_factory, befriend):
        # given
        others = [user_factory() for _ in range(20)]
        client = client_for(alice)
        for other in others[:2]:
            befriend(bob, other)
        few = count_queries(lambda: client.get(f"/api/users/{bob.pk}/friends"))
        for other in others[2:]:
            befriend(bob, other)
        # when
        many = count_queries(lambda: client.get(f"/api/users/{bob.pk}/friends"))
        # then: authentication + user exists + block check + the page
        assert (few, many) == (4, 4)


class TestUnfriend:
    def test_unfriend(self, client_for, alice, bob, befriend):
        # given
        befriend(alice, bob)
        # when
        response = client_for(alice).delete(f"/api/friends/{bob.pk}")
        # then
        assert response.status_code == 204
        assert Friendship.objects.count() == 0
        assert events() == [
            ("friendship.removed", key(alice, bob), {"user_id": alice.pk, "friend_id": bob.pk}, alice.pk)
        ]

    @pytest.mark.parametrize("relation", ["stranger", "self", "unknown", "i_blocked", "blocked_me", "pending"])
    def test_not_friends_is_404(self, client_for, alice, bob, carol, befriend, block, pending, relation):
        # given: alice and carol stay friends throughout
        befriend(alice, carol)
        target = {"self": alice.pk, "unknown": bob.pk + 1000}.get(relation, bob.pk)
        if relation == "i_blocked":
            block(alice, bob)
        elif relation == "blocked_me":
            block(bob, alice)
        elif relation == "pending":
            pending(alice, bob)
        before = snapshot()
        # when
        response = client_for(alice).delete(f"/api/friends/{target}")
        # then
        assert response.status_code == 404
        assert response.json() == {"detail": "You are not friends with this user.", "code": "not_friends"}
        assert snapshot() == before

    @pytest.mark.parametrize(
        "path", ["/api/friends/abc", "/api/friends/1.5", "/api/friends/-1", "/api/friends/9223372036854775808"]
    )
    def test_non_numeric_or_too_large_id_is_404(self, client_for, alice, path):
        response = client_for(alice).delete(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


class TestBlocks:
    def test_block_body_and_effects(self, client_for, alice, bob, befriend, pending):
        # given: friends, with a stale pending request
        befriend(alice, bob)
        request = pending(bob, alice)
        # when
        response = client_for(alice).post("/api/blocks", {"user_id": bob.pk}, format="json")
        # then
        block = Block.objects.get()
        assert response.status_code == 201
        assert response.json() == {"user_id": bob.pk, "created_at": iso(block.created_at)}
        assert (block.blocker_id, block.blocked_id) == (alice.pk, bob.pk)
        assert Friendship.objects.count() == 0
        assert FriendRequest.objects.get(pk=request.pk).status == "cancelled"
        assert [e[0] for e in events()] == ["friendship.removed", "user.blocked"]

    @pytest.mark.parametrize(
        "relation, status_code, code",
        [
            ("stranger", 201, None),
            ("friend", 201, None),
            ("blocked_me", 201, None),
            ("i_blocked", 409, "already_blocked"),
            ("self", 400, "self_target"),
            ("unknown", 404, "user_not_found"),
        ],
    )
    def test_matrix(self, client_for, alice, bob, befriend, block, relation, status_code, code):
        # given
        target = {"self": alice.pk, "unknown": bob.pk + 1000}.get(relation, bob.pk)
        if relation == "friend":
            befriend(alice, bob)
        elif relation == "blocked_me":
            block(bob, alice)
        elif relation == "i_blocked":
            block(alice, bob)
        before = snapshot()
        # when
        response = client_for(alice).post("/api/blocks", {"user_id": target}, format="json")
        # then
        assert response.status_code == status_code
        if code:
            assert response.json()["code"] == code
            assert snapshot() == before
        else:
            assert Block.objects.filter(blocker=alice, blocked=bob).count() == 1

    @pytest.mark.parametrize(
        "body",
        [{}, {"user_id": "abc"}, {"user_id": 1.5}, {"user_id": "1"}, {"user_id": None}, {"user_id": False},
         {"user_id": 0}, {"user_id": 10**20}, [], "x"],
    )
    def test_bad_body_is_400_and_writes_nothing(self, client_for, alice, bob, body):
        # given
        before = snapshot()
        # when
        response = client_for(alice).post("/api/blocks", body, format="json")
        # then
        assert response.status_code == 400
        assert snapshot() == before

    def test_malformed_json_is_400(self, client_for, alice):
        # given
        before = snapshot()
        # when
        response = client_for(alice).post("/api/blocks", "{user_id: 3}", content_type="application/json")
        # then
        assert response.status_code == 400
        assert snapshot() == before

    def test_unblock(self, client_for, alice, bob, block):
        # given
        block(alice, bob)
        # when
        response = client_for(alice).delete(f"/api/blocks/{bob.pk}")
        # then
        assert response.status_code == 204
        assert Block.objects.count() == 0
        assert events() == []

    def test_unblock_id_above_64_bits_is_404(self, client_for, alice, bob, block):
        # given
        block(alice, bob)
        # when
        response = client_for(alice).delete("/api/blocks/9223372036854775808")
        # then
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert Block.objects.count() == 1

    @pytest.mark.parametrize("relation", ["stranger", "blocked_me", "self", "unknown", "friend"])
    def test_unblock_without_block_is_404(self, client_for, alice, bob, befriend, block, relation):
        # given
        target = {"self": alice.pk, "unknown": bob.pk + 1000}.get(relation, bob.pk)
        if relation == "blocked_me":
            block(bob, alice)
        elif relation == "friend":
            befriend(alice, bob)
        before = snapshot()
        # when
        response = client_for(alice).delete(f"/api/blocks/{target}")
        # then
        assert response.status_code == 404
        assert response.json() == {"detail": "You have not blocked this user.", "code": "block_not_found"}
        assert snapshot() == before

    def test_list_blocks_newest_first(self, client_for, alice, bob, carol, block):
        # given
        first = block(alice, bob)
        second = block(alice, carol)
        block(carol, alice)  # not mine
        # when
        response = client_for(alice).get("/api/blocks")
        # then
        assert response.status_code == 200
        assert response.json() == {
            "results": [
                {"user_id": carol.pk, "user": user_json(carol), "created_at": iso(second.created_at)},
                {"user_id": bob.pk, "user": user_json(bob), "created_at": iso(first.created_at)},
            ],
            "next_cursor": None,
        }

    def test_list_query_count_is_constant(self, client_for, alice, user_factory, block):
        # given
        others = [user_factory() for _ in range(20)]
        client = client_for(alice)
        for other in others[:2]:
            block(alice, other)
        few = count_queries(lambda: client.get("/api/blocks"))
        for other in others[2:]:
            block(alice, other)
        # when
        many = count_queries(lambda: client.get("/api/blocks"))
        # then
        assert (few, many) == (2, 2)

    def test_blocked_user_cannot_send_a_request_afterwards(self, client_for, alice, bob):
        # given
        client_for(alice).post("/api/blocks", {"user_id": bob.pk}, format="json")
        before = snapshot()
        # when
        response = client_for(bob).post("/api/friends/requests", {"to_user_id": alice.pk}, format="json")
        # then
        assert response.status_code == 404
        assert snapshot() == before
