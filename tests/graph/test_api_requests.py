"""Friend-request endpoints: /api/friends/requests[/{id}[/accept|/decline]]."""

from __future__ import annotations

import pytest

from graph.models import FriendRequest, Friendship
from tests.graph.conftest import count_queries, events, iso, snapshot, user_json

pytestmark = pytest.mark.django_db

URL = "/api/friends/requests"

GRAPH_ENDPOINTS = [
    ("post", "/api/friends/requests"),
    ("get", "/api/friends/requests"),
    ("post", "/api/friends/requests/1/accept"),
    ("post", "/api/friends/requests/1/decline"),
    ("delete", "/api/friends/requests/1"),
    ("get", "/api/friends/"),
    ("get", "/api/users/1/friends"),
    ("delete", "/api/friends/1"),
    ("get", "/api/blocks"),
    ("post", "/api/blocks"),
    ("delete", "/api/blocks/1"),
]


@pytest.mark.parametrize("method, path", GRAPH_ENDPOINTS)
def test_anonymous_gets_401_on_every_graph_endpoint(api_client, alice, bob, pending, method, path):
    # given
    pending(alice, bob)
    before = snapshot()
    # when
    response = getattr(api_client, method)(path, {"to_user_id": bob.pk, "user_id": bob.pk}, format="json")
    # then
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert snapshot() == before


@pytest.mark.parametrize(
    "header",
    ["Bearer garbage", "Bearer ", "Token abc", "Bearer a.b.c"],
)
def test_garbage_token_gets_401(api_client, alice, bob, header):
    # given
    api_client.credentials(HTTP_AUTHORIZATION=header)
    before = snapshot()
    # when
    response = api_client.post(URL, {"to_user_id": bob.pk}, format="json")
    # then
    assert response.status_code == 401
    assert snapshot() == before


class TestSend:
    def test_happy_path_body(self, client_for, alice, bob):
        # when
        response = client_for(alice).post(URL, {"to_user_id": bob.pk}, format="json")
        # then
        request = FriendRequest.objects.get()
        assert response.status_code == 201
        assert response.json() == {
            "id": request.pk,
            "from_user": user_json(alice),
            "to_user": user_json(bob),
            "status": "pending",
            "created_at": iso(request.created_at),
        }
        assert [e[0] for e in events()] == ["friendship.requested"]

    @pytest.mark.parametrize(
        "relation, status_code, code",
        [
            ("stranger", 201, None),
            ("friend", 409, "already_friends"),
            ("i_blocked", 404, "user_not_found"),
            ("blocked_me", 404, "user_not_found"),
            ("sent", 409, "request_pending"),
            ("received", 409, "request_pending"),
            ("inactive", 404, "user_not_found"),
        ],
    )
    def test_matrix(self, client_for, alice, bob, befriend, block, pending, relation, status_code, code):
        # given
        if relation == "friend":
            befriend(alice, bob)
        elif relation == "i_blocked":
            block(alice, bob)
        elif relation == "blocked_me":
            block(bob, alice)
        elif relation == "sent":
            pending(alice, bob)
        elif relation == "received":
            pending(bob, alice)
        elif relation == "inactive":
            bob.is_active = False
            bob.save()
        before = snapshot()
        # when
        response = client_for(alice).post(URL, {"to_user_id": bob.pk}, format="json")
        # then
        assert response.status_code == status_code
        if code:
            assert response.json()["code"] == code
            assert snapshot() == before
        else:
            assert snapshot()["pending"] == before["pending"] + 1

    def test_self_is_400(self, client_for, alice):
        # given
        before = snapshot()
        # when
        response = client_for(alice).post(URL, {"to_user_id": alice.pk}, format="json")
        # then
        assert response.status_code == 400
        assert response.json() == {"detail": "You cannot send a friend request to yourself.", "code": "self_target"}
        assert snapshot() == before

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"to_user_id": "abc"},
            {"to_user_id": 1.5},
            {"to_user_id": "5"},
            {"to_user_id": True},
            {"to_user_id": None},
            {"to_user_id": [1]},
            {"to_user_id": 0},
            {"to_user_id": -3},
            {"to_user_id": 10**30},
            [1, 2],
            "text",
        ],
        ids=["missing", "abc", "float", "numeric-string", "bool", "null", "list", "zero", "negative",
             "huge", "array-body", "string-body"],
    )
    def test_bad_body_is_400_and_writes_nothing(self, client_for, alice, bob, body):
        # given
        before = snapshot()
        # when
        response = client_for(alice).post(URL, body, format="json")
        # then
        assert response.status_code == 400
        assert snapshot() == before

    def test_malformed_json_is_400(self, client_for, alice, bob):
        # given
        before = snapshot()
        # when
        response = client_for(alice).post(URL, '{"to_user_id": ', content_type="application/json")
        # then
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"
        assert snapshot() == before

    def test_unknown_user_is_404(self, client_for, alice):
        # when
        response = client_for(alice).post(URL, {"to_user_id": alice.pk + 1000}, format="json")
        # then
        assert response.status_code == 404
        assert response.json() == {"detail": "No such user.", "code": "user_not_found"}
        assert snapshot()["outbox"] == 0


class TestList:
    def test_incoming_is_default_and_outgoing_on_request(
        self, client_for, alice, bob, carol, user_factory, pending
    ):
        # given: bob → alice, carol → alice (newest), alice → dave; a finished and a foreign one
        first = pending(bob, alice)
        second = pending(carol, alice)
        finished = FriendRequest.objects.create(from_user=alice, to_user=carol, status="cancelled")
        outgoing = pending(alice, user_factory(username="dave"))
        pending(carol, bob)
        client = client_for(alice)
        # when
        incoming = client.get(URL)
        explicit = client.get(URL, {"direction": "incoming"})
        out = client.get(URL, {"direction": "outgoing"})
        # then
        assert incoming.status_code == 200
        assert incoming.json() == explicit.json() == {
            "results": [
                {"id": second.pk, "from_user": user_json(carol), "to_user": user_json(alice),
                 "status": "pending", "created_at": iso(second.created_at)},
                {"id": first.pk, "from_user": user_json(bob), "to_user": user_json(alice),
                 "status": "pending", "created_at": iso(first.created_at)},
            ],
            "next_cursor": None,
        }
        assert [r["id"] for r in out.json()["results"]] == [outgoing.pk]
        assert finished.pk != outgoing.pk

    def test_requests_from_inactive_users_are_hidden(self, client_for, alice, bob, pending):
        # given
        pending(bob, alice)
        bob.is_active = False
        bob.save()
        # when
        response = client_for(alice).get(URL)
        # then
        assert response.json() == {"results": [], "next_cursor": None}

    @pytest.mark.parametrize("direction", ["sideways", "INCOMING", "incoming,outgoing"])
    def test_bad_direction_is_400(self, client_for, alice, direction):
        response = client_for(alice).get(URL, {"direction": direction})
        assert response.status_code == 400
        assert "direction" in response.json()

    @pytest.mark.parametrize("limit", ["0", "1000000", "abc", "-1"])
    def test_bad_limit_is_400(self, client_for, alice, limit):
        response = client_for(alice).get(URL, {"limit": limit})
        assert response.status_code == 400
        assert response.json() == {"limit": ["Must be an integer between 1 and 100."]}

    def test_pages_with_cursor(self, client_for, alice, user_factory, pending):
        # given
        senders = [user_factory() for _ in range(3)]
        requests = [pending(s, alice) for s in senders]
        client = client_for(alice)
        # when
        page1 = client.get(URL, {"limit": 2}).json()
        page2 = client.get(URL, {"limit": 2, "cursor": page1["next_cursor"]}).json()
        # then
        assert [r["id"] for r in page1["results"]] == [requests[2].pk, requests[1].pk]
        assert [r["id"] for r in page2["results"]] == [requests[0].pk]
        assert page2["next_cursor"] is None

    def test_bad_cursor_is_400(self, client_for, alice):
        response = client_for(alice).get(URL, {"cursor": "abc"})
        assert response.status_code == 400

    @pytest.mark.parametrize("direction", ["incoming", "outgoing"])
    def test_query_count_is_constant(self, client_for, alice, user_factory, pending, direction):
        # given
        others = [user_factory() for _ in range(20)]
        client = client_for(alice)

        def make(n):
            FriendRequest.objects.all().delete()
            for other in others[:n]:
                pending(other, alice) if direction == "incoming" else pending(alice, other)

        make(2)
        few = count_queries(lambda: client.get(URL, {"direction": direction}))
        make(20)
        many = count_queries(lambda: client.get(URL, {"direction": direction}))
        # then: authentication + the page
        assert (few, many) == (2, 2)


class TestAnswer:
    def test_accept_body(self, client_for, alice, bob, pending):
        # given
        request = pending(alice, bob)
        # when
        response = client_for(bob).post(f"{URL}/{request.pk}/accept")
        # then
        friendship = Friendship.objects.get()
        assert response.status_code == 200
        assert response.json() == {"friend": user_json(alice), "since": iso(friendship.created_at)}
        assert [e[0] for e in events()] == ["friendship.accepted"]

    def test_decline(self, client_for, alice, bob, pending):
        # given
        request = pending(alice, bob)
        # when
        response = client_for(bob).post(f"{URL}/{request.pk}/decline")
        # then
        assert response.status_code == 204
        assert response.content == b""
        request.refresh_from_db()
        assert request.status == "declined"
        assert (Friendship.objects.count(), events()) == (0, [])

    def test_cancel(self, client_for, alice, bob, pending):
        # given
        request = pending(alice, bob)
        # when
        response = client_for(alice).delete(f"{URL}/{request.pk}")
        # then
        assert response.status_code == 204
        request.refresh_from_db()
        assert request.status == "cancelled"

    @pytest.mark.parametrize(
        "action, actor, status_code, code",
        [
            ("accept", "sender", 403, "not_recipient"),
            ("accept", "stranger", 404, "request_not_found"),
            ("accept", "friend_of_sender", 404, "request_not_found"),
            ("accept", "blocked", 409, "not_pending"),
            ("decline", "sender", 403, "not_recipient"),
            ("decline", "stranger", 404, "request_not_found"),
            ("decline", "friend_of_sender", 404, "request_not_found"),
            ("decline", "blocked", 409, "not_pending"),
            ("cancel", "recipient", 403, "not_sender"),
            ("cancel", "stranger", 404, "request_not_found"),
            ("cancel", "friend_of_sender", 404, "request_not_found"),
        ],
    )
    def test_authorization_matrix(
        self, client_for, alice, bob, carol, befriend, block, pending, action, actor, status_code, code
    ):
        # given: alice → bob pending; carol is a stranger or alice's friend
        request = pending(alice, bob)
        if actor == "friend_of_sender":
            befriend(alice, carol)
        if actor == "blocked":
            # bob blocked alice after the request: the request is cancelled by the block
            from graph import services

            services.block_create(blocker=bob, blocked_id=alice.pk)
        caller = {"sender": alice, "recipient": bob, "stranger": carol, "friend_of_sender": carol,
                  "blocked": bob}[actor]
        before = snapshot()
        client = client_for(caller)
        # when
        if action == "cancel":
            response = client.delete(f"{URL}/{request.pk}")
        else:
            response = client.post(f"{URL}/{request.pk}/{action}")
        # then
        assert response.status_code == status_code
        assert response.json()["code"] == code
        assert snapshot() == before

    @pytest.mark.parametrize("path", ["/{id}/accept", "/{id}/decline", "/{id}"])
    def test_non_pending_is_409(self, client_for, alice, bob, pending, path):
        # given
        request = pending(alice, bob)
        FriendRequest.objects.filter(pk=request.pk).update(status="accepted")
        caller = alice if path == "/{id}" else bob
        client = client_for(caller)
        url = URL + path.format(id=request.pk)
        # when
        response = client.delete(url) if path == "/{id}" else client.post(url)
        # then
        assert response.status_code == 409
        assert response.json()["code"] == "not_pending"

    @pytest.mark.parametrize("path", ["/abc/accept", "/1.5/decline", "/abc", "/-1", "/99999999/accept",
                                      "/99999999999999999999999/accept"])
    def test_bad_or_unknown_ids_are_404(self, client_for, alice, path):
        # given
        client = client_for(alice)
        url = URL + path
        # when
        response = client.delete(url) if not path.endswith(("accept", "decline")) else client.post(url)
        # then
        assert response.status_code == 404
        assert set(response.json()) == {"detail", "code"}
