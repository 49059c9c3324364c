"""Every cursor-paginated list refuses a cursor it did not make: 400 "Invalid cursor.".

Before, DRF's decoding took any base64 it could read as "first page" on the lists built on
``bellamy.api.pagination.CursorPagination`` (user posts, friends, comments, user search,
friend requests, blocks, hashtag posts), while the feed and notifications answered 400.
"""

from __future__ import annotations

import base64

import pytest

from graph.models import Block, FriendRequest

pytestmark = pytest.mark.django_db

INVALID = {"cursor": ["Invalid cursor."]}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


GARBAGE = {
    "json_id": b64('{"id": -1}'),
    "zeros": "AAAA" * 8,
    "not_base64": "!!!",
    "urlsafe_alphabet": "_-_-",
    "unknown_key": b64("x=1"),
    "offset_only": b64("o=1"),
    "negative_offset": b64("o=-1&p=2026-01-01+00%3A00%3A00%2B00%3A00"),
    "bad_direction": b64("r=2&p=2026-01-01+00%3A00%3A00%2B00%3A00"),
    "repeated_key": b64("p=a&p=b"),
    "deep_json": b64("[" * 5000 + "]" * 5000),
    "deep_json_short": b64("[" * 700 + "]" * 700),
    "impossible_date": b64('{"m": "k", "b": ["2026-13-45T00:00:00", 1]}'),
}


@pytest.fixture
def world(client_for, user_factory, befriend):
    """alice with 2 posts tagged #cursors, 2 friends, 2 comments on a post, 2 blocks, 2 incoming
    requests; returns ``(client of alice, {list name: path})``."""
    alice, bob, carol, dave, erin, frank, alicia = (
        user_factory(username=name) for name in ("alice", "bob", "carol", "dave", "erin", "frank", "alicia")
    )
    client = client_for(alice)
    posts = [client.post(f"/api/Post/users/{alice.pk}", {"content": f"#cursors {n}"}, format="json").json()
             for n in range(2)]
    for _ in range(2):
        assert client.post(f"/api/posts/{posts[0]['id']}/comments", {"content": "hi"}, format="json").status_code == 201
    befriend(alice, bob)
    befriend(alice, carol)
    Block.objects.create(blocker=alice, blocked=dave)
    Block.objects.create(blocker=alice, blocked=erin)
    FriendRequest.objects.create(from_user=frank, to_user=alice)
    FriendRequest.objects.create(from_user=alicia, to_user=alice)
    return client, {
        "user_posts": f"/api/Post/users/{alice.pk}?",
        "user_friends": f"/api/users/{alice.pk}/friends?",
        "my_friends": "/api/friends/?",
        "comments": f"/api/posts/{posts[0]['id']}/comments?",
        "user_search": "/api/users/?search=ali&",
        "friend_requests": "/api/friends/requests?",
        "blocks": "/api/blocks?",
        "hashtag_posts": "/api/trends/hashtags/cursors/posts?",
        "feed": "/api/feed/?order=recent&",
        "notifications": "/api/notifications/?",
    }


LISTS = ["user_posts", "user_friends", "my_friends", "comments", "user_search", "friend_requests", "blocks",
         "hashtag_posts", "feed", "notifications"]


@pytest.mark.parametrize("name", [n for n in LISTS if n != "notifications"])
def test_the_next_cursor_gives_the_second_page(world, name):
    # given
    client, paths = world
    first = client.get(paths[name] + "limit=1").json()
    assert len(first["results"]) == 1 and first["next_cursor"]
    # when
    second = client.get(paths[name] + f"limit=1&cursor={first['next_cursor']}")
    # then
    assert second.status_code == 200
    assert len(second.json()["results"]) == 1
    assert second.json()["results"][0] != first["results"][0]


@pytest.mark.parametrize("name", LISTS)
def test_a_cursor_we_did_not_make_is_400_everywhere(world, name):
    client, paths = world
    for kind, cursor in GARBAGE.items():
        response = client.get(paths[name] + "cursor=" + cursor.replace("+", "%2B").replace("=", "%3D"))
        assert response.status_code == 400, (kind, response.content)
        assert response.json() == INVALID, kind


@pytest.mark.parametrize("position", ["2026-13-45 00:00:00+00:00", "yesterday", ""])
def test_a_position_the_ordering_field_cannot_hold_is_400(world, position):
    client, paths = world
    cursor = b64("p=" + position).replace("+", "%2B").replace("=", "%3D")
    response = client.get(paths["user_posts"] + "cursor=" + cursor)
    assert response.status_code == 400
    assert response.json() == INVALID
