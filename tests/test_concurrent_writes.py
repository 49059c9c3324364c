"""Concurrent writes against a real server process never answer 500.

On the embedded default the ASGI server runs each request in its own thread, so twenty clicks
at once are twenty connections writing one SQLite file. SQLite's deferred transactions then
failed with "database is locked" (500) when a reader tried to become a writer; ``BEGIN
IMMEDIATE`` + WAL (``bellamy.config.SQLITE_OPTIONS``) make the writers queue instead. The same
scenarios run against PostgreSQL + Redis (the production settings), where row locks and unique
constraints decide.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.live_stack import current_database_url
from tests.web_server import WebServer, embedded_env, migrate, production_env

# The production server writes the test database through its own connections (committed):
# a transactional test empties it afterwards (and runs after the non-transactional ones).
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase 42"
CONCURRENCY = 20


@pytest.fixture(scope="module", params=["embedded", "production"])
def server(request, tmp_path_factory, django_db_setup):
    """A running web process on SQLite (``make run``) or on PostgreSQL + Redis (the test
    database)."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    if request.param == "embedded":
        env = {**embedded_env(tmp_path / "db.sqlite3"), "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"]}
        migrate(env)
    else:
        env = production_env(current_database_url(), key_prefix=f"concurrent{os.getpid()}")
    with WebServer(env, tmp_path / "web.log") as web:
        yield web
    assert "database is locked" not in web.log()


@pytest.fixture
def users(server):
    """alice, bob and twenty more users of ``server``, registered all at once (itself a burst
    of concurrent writes): ``{"alice": (id, Authorization header), ..., "others": [...]}``."""
    alice, bob, *others = register_many(server, ["alice", "bob", *(f"user{n}" for n in range(CONCURRENCY))])
    return {"alice": alice, "bob": bob, "others": others}


def register_many(server: WebServer, usernames: list[str]) -> list[tuple[int, dict[str, str]]]:
    """Register ``usernames`` all at once, then log them in all at once (bursts of concurrent
    writes themselves): ``[(id, Authorization header)]``."""
    responses = at_once(server, [("POST", "/api/auth/register", {},
                                  {"username": name, "email": f"{name}@example.org", "password": PASSWORD})
                                 for name in usernames])
    assert statuses(responses) == [201] * len(usernames), [r.text[:300] for r in responses]
    logins = at_once(server, [("POST", "/api/auth/token", {}, {"username": name, "password": PASSWORD})
                              for name in usernames])
    assert statuses(logins) == [200] * len(usernames), [r.text[:300] for r in logins]
    return [(created.json()["id"], {"Authorization": f"Bearer {login.json()['access']}"})
            for created, login in zip(responses, logins)]


def at_once(server: WebServer, requests: list[tuple[str, str, dict, dict | None]]) -> list[httpx.Response]:
    """Send every ``(method, path, headers, json)`` at the same time, one connection each."""
    def send(request):
        method, path, headers, body = request
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            return http.request(method, path, headers=headers, json=body)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def statuses(responses: list[httpx.Response]) -> list[int]:
    return sorted(response.status_code for response in responses)


def test_concurrent_likes_and_friend_requests(server, users):
    # given: alice's public post; bob and twenty other users
    (alice_id, alice), (_, bob) = users["alice"], users["bob"]
    likers = [headers for _, headers in users["others"]]
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        post = http.post(f"/api/Post/users/{alice_id}", json={"content": "Like me", "visibility": "public"},
                         headers=alice)
        assert post.status_code == 201, post.text
        post_id = post.json()["id"]
        # when: bob likes it twenty times at once
        responses = at_once(server, [("POST", f"/api/posts/{post_id}/like", bob, None)] * CONCURRENCY)
        # then: one like created, the others found it; the counter says one
        assert statuses(responses) == [200] * (CONCURRENCY - 1) + [201], [r.text[:300] for r in responses]
        assert {r.json()["like_count"] for r in responses} == {1}
        # when: twenty other users like it at once
        responses = at_once(server, [("POST", f"/api/posts/{post_id}/like", headers, None) for headers in likers])
        # then
        assert statuses(responses) == [201] * CONCURRENCY, [r.text[:300] for r in responses]
        assert http.get(f"/api/posts/{post_id}", headers=alice).json()["like_count"] == CONCURRENCY + 1

    # given: alice is the target of twenty users' requests; bob of one user's repeated request
    (target_id, target), (other_id, other) = users["alice"], users["bob"]
    senders = [headers for _, headers in users["others"]]
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        # when: twenty users ask the target at once
        responses = at_once(server, [("POST", "/api/friends/requests", headers, {"to_user_id": target_id})
                                     for headers in senders])
        # then
        assert statuses(responses) == [201] * CONCURRENCY, [r.text[:300] for r in responses]
        incoming = http.get("/api/friends/requests?direction=incoming&limit=100", headers=target).json()
        assert sorted(item["from_user"]["username"] for item in incoming["results"]) == sorted(
            f"user{n}" for n in range(CONCURRENCY)
        )
        # when: one of them sends the same request to "other" twenty times at once
        responses = at_once(server, [("POST", "/api/friends/requests", senders[0], {"to_user_id": other_id})]
                            * CONCURRENCY)
        # then: one request; the others are told it is pending (409), none fails
        assert statuses(responses) == [201] + [409] * (CONCURRENCY - 1), [r.text[:300] for r in responses]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"request_pending"}
        incoming = http.get("/api/friends/requests", headers=other).json()["results"]
        assert [item["from_user"]["username"] for item in incoming] == ["user0"]
