"""graph.selectors: the read contract other apps rely on."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from graph import selectors
from tests.graph.conftest import count_queries

pytestmark = pytest.mark.django_db


def test_friend_ids_lists_friends_from_both_sides_of_the_pair(user_factory, befriend):
    # given: me in the middle — one friend with a lower id, one with a higher id
    low = user_factory()
    me = user_factory()
    high = user_factory()
    stranger = user_factory()
    befriend(low, me)
    befriend(me, high)
    befriend(low, stranger)
    # when / then
    assert sorted(selectors.friend_ids(me.pk)) == [low.pk, high.pk]
    assert sorted(selectors.friend_ids(low.pk)) == [me.pk, stranger.pk]
    assert list(selectors.friend_ids(999_999)) == []


def test_friend_ids_is_one_subquery(user_factory, befriend):
    # given
    me, a, b = user_factory(), user_factory(), user_factory()
    befriend(me, a)
    befriend(b, me)
    users = get_user_model().objects.filter(id__in=selectors.friend_ids(me.pk)).order_by("id")
    # when
    result = []
    queries = count_queries(lambda: result.extend(users.values_list("id", flat=True)))
    # then
    assert (result, queries) == ([a.pk, b.pk], 1)


def test_are_friends(alice, bob, carol, befriend):
    # given
    befriend(bob, alice)
    # then
    assert selectors.are_friends(alice.pk, bob.pk) is True
    assert selectors.are_friends(bob.pk, alice.pk) is True
    assert selectors.are_friends(alice.pk, carol.pk) is False
    assert selectors.are_friends(alice.pk, alice.pk) is False


def test_blocked_ids_is_both_directions_and_one_subquery(alice, bob, carol, user_factory, block):
    # given: alice blocked bob, carol blocked alice, dave is unrelated
    dave = user_factory()
    block(alice, bob)
    block(carol, alice)
    block(bob, dave)
    visible = get_user_model().objects.exclude(id__in=selectors.blocked_ids(alice.pk)).order_by("id")
    # when
    result = []
    queries = count_queries(lambda: result.extend(visible.values_list("id", flat=True)))
    # then
    assert sorted(selectors.blocked_ids(alice.pk)) == sorted([bob.pk, carol.pk])
    assert (result, queries) == ([alice.pk, dave.pk], 1)


def test_is_blocked_either_way(alice, bob, carol, block):
    # given
    block(alice, bob)
    # then
    assert selectors.is_blocked_either_way(alice.pk, bob.pk) is True
    assert selectors.is_blocked_either_way(bob.pk, alice.pk) is True
    assert selectors.is_blocked_either_way(alice.pk, carol.pk) is False
    assert selectors.has_blocked(alice.pk, bob.pk) is True
    assert selectors.has_blocked(bob.pk, alice.pk) is False


@pytest.mark.parametrize(
    "setup, expected",
    [
        ("nothing", "none"),
        ("friends", "friends"),
        ("sent", "request_sent"),
        ("received", "request_received"),
        ("i_blocked", "blocked"),
        ("they_blocked", "blocked"),
        ("declined", "none"),
    ],
)
def test_friendship_status(alice, bob, befriend, block, pending, setup, expected):
    # given
    if setup == "friends":
        befriend(alice, bob)
    elif setup == "sent":
        pending(alice, bob)
    elif setup == "received":
        pending(bob, alice)
    elif setup == "i_blocked":
        block(alice, bob)
    elif setup == "they_blocked":
        block(bob, alice)
    elif setup == "declined":
        pending(alice, bob).__class__.objects.update(status="declined")
    # then
    assert selectors.friendship_status(alice.pk, bob.pk) == expected


def test_friendship_status_of_self(alice):
    assert selectors.friendship_status(alice.pk, alice.pk) == "self"


def test_friends_count_leaves_out_inactive_friends(alice, bob, carol, befriend):
    # given
    befriend(alice, bob)
    befriend(carol, alice)
    carol.is_active = False
    carol.save()
    # then
    assert selectors.friends_count(alice.pk) == 1
    assert selectors.friends_count(bob.pk) == 1


def test_friends_of_hides_users_blocked_with_the_viewer(alice, bob, carol, user_factory, befriend, block):
    # given: bob's friends are alice and carol; the viewer dave blocked carol
    dave = user_factory()
    befriend(bob, alice)
    befriend(bob, carol)
    block(dave, carol)
    # then
    assert sorted(u.pk for u in selectors.friends_of(bob.pk)) == sorted([alice.pk, carol.pk])
    assert [u.pk for u in selectors.friends_of(bob.pk, viewer_id=dave.pk)] == [alice.pk]


def test_pending_requests_rejects_unknown_direction(alice):
    with pytest.raises(ValueError):
        selectors.pending_requests(alice.pk, direction="sideways")
