"""Database constraints of the graph: they hold even if a service's checks are raced."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from graph.models import Block, FriendRequest, Friendship

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("reverse", [False, True])
def test_one_pending_request_per_unordered_pair(alice, bob, reverse):
    # given
    FriendRequest.objects.create(from_user=alice, to_user=bob)
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        if reverse:
            FriendRequest.objects.create(from_user=bob, to_user=alice)
        else:
            FriendRequest.objects.create(from_user=alice, to_user=bob)
    assert FriendRequest.objects.count() == 1


def test_finished_requests_do_not_count_against_the_pair(alice, bob):
    # given
    FriendRequest.objects.create(from_user=alice, to_user=bob, status="declined")
    FriendRequest.objects.create(from_user=bob, to_user=alice, status="cancelled")
    # when
    FriendRequest.objects.create(from_user=alice, to_user=bob)
    # then
    assert FriendRequest.objects.count() == 3


@pytest.mark.parametrize(
    "make",
    [
        lambda a, b: FriendRequest.objects.create(from_user=a, to_user=a),
        lambda a, b: Friendship.objects.create(user_low_id=max(a.pk, b.pk), user_high_id=min(a.pk, b.pk)),
        lambda a, b: Friendship.objects.create(user_low_id=a.pk, user_high_id=a.pk),
        lambda a, b: Block.objects.create(blocker=a, blocked=a),
    ],
    ids=["request-to-self", "friendship-not-canonical", "friendship-with-self", "block-self"],
)
def test_check_constraints(alice, bob, make):
    with pytest.raises(IntegrityError), transaction.atomic():
        make(alice, bob)


def test_friendship_and_block_are_unique(alice, bob):
    # given
    low, high = sorted((alice.pk, bob.pk))
    Friendship.objects.create(user_low_id=low, user_high_id=high)
    Block.objects.create(blocker=alice, blocked=bob)
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        Friendship.objects.create(user_low_id=low, user_high_id=high)
    with pytest.raises(IntegrityError), transaction.atomic():
        Block.objects.create(blocker=alice, blocked=bob)
