"""The notifications API (API.md "Feed, trends, notifications") on both store backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifications.stores import get_notification_store
from notifications.stores.base import POST_LIKED, NewNotification, group_key_for
from tests.notifications.conftest import T0

LIST = "/api/notifications/"
READ = "/api/notifications/read"
COUNT = "/api/notifications/unread-count"
M = timedelta(minutes=1)


def z(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def user_json(user) -> dict:
    return {"id": user.pk, "username": user.username, "display_name": user.display_name, "bio": user.bio,
            "date_joined": z(user.date_joined)}


def add(recipient, n, *, actor, start=T0, post_id=None):
    """Store ``n`` friend_posted notifications of ``recipient``, one minute apart (oldest first)."""
    return get_notification_store().add_many(
        [NewNotification(recipient.pk, "friend_posted", f"ev-{recipient.pk}-{start}-{i}", actor.pk, start + i * M,
                         post_id=post_id)
         for i in range(n)]
    )


@pytest.fixture
def me(user_factory):
    return user_factory(username="me")


@pytest.fixture
def friend(user_factory):
    return user_factory(username="friend", display_name="Friend", bio="Hello")


@pytest.fixture
def other(user_factory):
    return user_factory(username="other")


# --- anonymous --------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), [("get", LIST), ("post", READ), ("get", COUNT)])
def test_anonymous_calls_get_401(api_client, db, method, path):
    response = getattr(api_client, method)(path, {"all": True} if method == "post" else None, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- list -------------------------------------------------------------------------------------
def test_list_returns_notification_objects_newest_first_with_unread_count(backend, client_for, me, friend, other):
    # given a friend_posted, then a like group by friend and other, for me; one notification of other
    [posted] = add(me, 1, actor=friend, post_id=5)
    store = get_notification_store()
    key = group_key_for(POST_LIKED, 6, T0)
    store.group_add(NewNotification(me.pk, POST_LIKED, "l1", friend.pk, T0 + M, post_id=6), group_key=key)
    group = store.group_add(NewNotification(me.pk, POST_LIKED, "l2", other.pk, T0 + 2 * M, post_id=6), group_key=key)
    add(other, 1, actor=friend)
    # when I list my notifications
    response = client_for(me).get(LIST)
    # then
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"id": group.id, "type": "post_liked", "actors": [user_json(other), user_json(friend)], "actor_count": 2,
             "post_id": 6, "comment_id": None, "created_at": z(T0 + M), "read": False},
            {"id": posted, "type": "friend_posted", "actors": [user_json(friend)], "actor_count": 1,
             "post_id": 5, "comment_id": None, "created_at": z(T0), "read": False},
        ],
        "next_cursor": None,
        "unread_count": 2,
    }


def test_list_pages_with_cursor_and_filters_unread(backend, client_for, me, friend):
    ids = add(me, 5, actor=friend)
    get_notification_store().mark_read(me.pk, ids=[ids[3]])
    client = client_for(me)
    first = client.get(LIST, {"limit": 2}).json()
    second = client.get(LIST, {"limit": 2, "cursor": first["next_cursor"]}).json()
    third = client.get(LIST, {"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [n["id"] for n in first["results"]] == [ids[4], ids[3]]
    assert [n["id"] for n in second["results"]] == [ids[2], ids[1]]
    assert [n["id"] for n in third["results"]] == [ids[0]] and third["next_cursor"] is None
    assert first["unread_count"] == second["unread_count"] == 4
    unread = client.get(LIST, {"unread": "true"}).json()
    assert [n["id"] for n in unread["results"]] == [ids[4], ids[2], ids[1], ids[0]]
    assert [n["read"] for n in client.get(LIST, {"unread": "false"}).json()["results"]] == [
        False, True, False, False, False]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"unread": "yes"}, "unread"),
        ({"unread": "1"}, "unread"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "1000000"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyIyMDI1LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwiengiXQ"}, "cursor"),
    ],
)
def test_list_bad_query_is_400(backend, client_for, me, params, field):
    response = client_for(me).get(LIST, params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_list_query_count_is_the_same_for_2_and_20_items(client_for, me, friend, other, db,
                                                         django_assert_num_queries):
    # given the ORM store (every query counted): auth, page, actors, unread count
    client = client_for(me)
    add(me, 2, actor=friend)
    with django_assert_num_queries(4):
        assert len(client.get(LIST).json()["results"]) == 2
    add(me, 9, actor=friend, start=T0 + timedelta(hours=1))
    add(me, 9, actor=other, start=T0 + timedelta(hours=2))
    with django_assert_num_queries(4):
        assert len(client.get(LIST).json()["results"]) == 20


def test_list_leaves_out_actors_blocked_either_way(backend, client_for, me, friend, other, block):
    add(me, 1, actor=other)
    block(other, me)
    [item] = client_for(me).get(LIST).json()["results"]
    assert item["actors"] == [] and item["actor_count"] == 1


# --- unread count -----------------------------------------------------------------------------
def test_unread_count(backend, client_for, me, friend, other):
    ids = add(me, 3, actor=friend)
    add(other, 2, actor=friend)
    get_notification_store().mark_read(me.pk, ids=[ids[0]])
    response = client_for(me).get(COUNT)
    assert response.status_code == 200
    assert response.json() == {"unread_count": 2}


# --- mark read --------------------------------------------------------------------------------
def test_mark_read_by_ids_ignores_other_users_notifications(backend, client_for, me, friend, other):
    mine = add(me, 3, actor=friend)
    theirs = add(other, 2, actor=friend)
    # when I mark one of mine, both of theirs and an unknown id
    response = client_for(me).post(READ, {"ids": [mine[1], *theirs, "unknown"]}, format="json")
    # then only mine is marked
    assert response.status_code == 200
    assert response.json() == {"updated": 1}
    store = get_notification_store()
    assert [r.read for r in store.get_many(mine + theirs)] == [False, True, False, False, False]
    assert store.unread_count(other.pk) == 2
    # and marking it again updates nothing
    assert client_for(me).post(READ, {"ids": [mine[1]]}, format="json").json() == {"updated": 0}


def test_mark_all_read(backend, client_for, me, friend, other):
    add(me, 3, actor=friend)
    add(other, 2, actor=friend)
    response = client_for(me).post(READ, {"all": True}, format="json")
    assert response.status_code == 200
    assert response.json() == {"updated": 3}
    assert client_for(me).get(COUNT).json() == {"unread_count": 0}
    assert get_notification_store().unread_count(other.pk) == 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": ["1"], "all": True},
        {"all": False},
        {"all": "true"},
        {"all": 1},
        {"ids": "1"},
        {"ids": [1, 2]},
        {"ids": [None]},
        {"ids": {"a": 1}},
        {"ids": [str(i) for i in range(501)]},
        ["1"],
    ],
)
def test_mark_read_bad_body_is_400_and_marks_nothing(backend, client_for, me, friend, body):
    ids = add(me, 2, actor=friend)
    response = client_for(me).post(READ, body, format="json")
    assert response.status_code == 400
    assert get_notification_store().unread_count(me.pk) == 2
    assert [r.read for r in get_notification_store().get_many(ids)] == [False, False]


def test_mark_read_malformed_json_is_400(client_for, me, db):
    response = client_for(me).generic("POST", READ, "{nope", content_type="application/json")
    assert response.status_code == 400
