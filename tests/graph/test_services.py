"""graph.services: state changes, the events each publishes, and the errors it raises."""

from __future__ import annotations

import pytest
from rest_framework.exceptions import NotFound, PermissionDenied

from graph import services
from graph.models import Block, FriendRequest, Friendship
from tests.graph.conftest import events, snapshot

pytestmark = pytest.mark.django_db


def key(a, b) -> str:
    low, high = sorted((a.pk, b.pk))
    return f"{low}:{high}"


class TestFriendRequestSend:
    def test_creates_pending_request_and_publishes_requested(self, alice, bob):
        # when
        request = services.friend_request_send(from_user=alice, to_user_id=bob.pk)
        # then
        request.refresh_from_db()
        assert (request.from_user_id, request.to_user_id, request.status) == (alice.pk, bob.pk, "pending")
        assert request.responded_at is None
        assert events() == [
            (
                "friendship.requested",
                key(alice, bob),
                {"request_id": request.pk, "from_user_id": alice.pk, "to_user_id": bob.pk},
                alice.pk,
            )
        ]

    @pytest.mark.parametrize(
        "setup, status_code, code",
        [
            ("self", 400, "self_target"),
            ("unknown", 404, "user_not_found"),
            ("inactive", 404, "user_not_found"),
            ("blocked_by_sender", 404, "user_not_found"),
            ("blocked_by_recipient", 404, "user_not_found"),
            ("friends", 409, "already_friends"),
            ("pending_same_way", 409, "request_pending"),
            ("pending_other_way", 409, "request_pending"),
        ],
    )
    def test_refusals_write_nothing(self, alice, bob, befriend, block, pending, setup, status_code, code):
        # given
        target = bob.pk
        if setup == "self":
            target = alice.pk
        elif setup == "unknown":
            target = bob.pk + 1000
        elif setup == "inactive":
            bob.is_active = False
            bob.save()
        elif setup == "blocked_by_sender":
            block(alice, bob)
        elif setup == "blocked_by_recipient":
            block(bob, alice)
        elif setup == "friends":
            befriend(alice, bob)
        elif setup == "pending_same_way":
            pending(alice, bob)
        elif setup == "pending_other_way":
            pending(bob, alice)
        before = snapshot()
        # when
        with pytest.raises(Exception) as info:
            services.friend_request_send(from_user=alice, to_user_id=target)
        # then
        assert (info.value.status_code, info.value.get_codes()) == (status_code, code)
        assert snapshot() == before

    def test_a_new_request_is_allowed_after_a_declined_one(self, alice, bob):
        # given
        first = services.friend_request_send(from_user=alice, to_user_id=bob.pk)
        services.friend_request_decline(user=bob, request_id=first.pk)
        # when
        second = services.friend_request_send(from_user=alice, to_user_id=bob.pk)
        # then
        assert second.pk != first.pk
        assert list(FriendRequest.objects.order_by("id").values_list("status", flat=True)) == [
            "declined",
            "pending",
        ]


class TestFriendRequestAnswer:
    def test_accept_creates_friendship_and_publishes_accepted(self, alice, bob, pending):
        # given
        request = pending(alice, bob)
        # when
        result = services.friend_request_accept(user=bob, request_id=request.pk)
        # then
        request.refresh_from_db()
        friendship = Friendship.objects.get()
        low, high = sorted((alice.pk, bob.pk))
        assert (friendship.user_low_id, friendship.user_high_id) == (low, high)
        assert request.status == "accepted" and request.responded_at is not None
        assert (result.friend, result.since) == (alice, friendship.created_at)
        assert events() == [
            (
                "friendship.accepted",
                key(alice, bob),
                {"request_id": request.pk, "from_user_id": alice.pk, "to_user_id": bob.pk},
                bob.pk,
            )
        ]

    @pytest.mark.parametrize("action", ["accept", "decline"])
    def test_sender_cannot_answer(self, alice, bob, pending, action):
        # given
        request = pending(alice, bob)
        before = snapshot()
        # when
        with pytest.raises(PermissionDenied) as info:
            getattr(services, f"friend_request_{action}")(user=alice, request_id=request.pk)
        # then
        assert info.value.get_codes() == "not_recipient"
        assert snapshot() == before

    @pytest.mark.parametrize("action", ["accept", "decline", "cancel"])
    def test_outsider_gets_not_found(self, alice, bob, carol, pending, action):
        # given
        request = pending(alice, bob)
        before = snapshot()
        # when
        with pytest.raises(NotFound) as info:
            getattr(services, f"friend_request_{action}")(user=carol, request_id=request.pk)
        # then
        assert info.value.get_codes() == "request_not_found"
        assert snapshot() == before

    @pytest.mark.parametrize("action", ["accept", "decline"])
    def test_request_of_inactive_sender_is_not_found(self, alice, bob, pending, action):
        # given
        request = pending(alice, bob)
        alice.is_active = False
        alice.save()
        # when
        with pytest.raises(NotFound):
            getattr(services, f"friend_request_{action}")(user=bob, request_id=request.pk)
        # then
        assert FriendRequest.objects.get().status == "pending"

    @pytest.mark.parametrize("status", ["accepted", "declined", "cancelled"])
    @pytest.mark.parametrize("action", ["accept", "decline"])
    def test_non_pending_request_conflicts(self, alice, bob, pending, status, action):
        # given
        request = pending(alice, bob)
        FriendRequest.objects.filter(pk=request.pk).update(status=status)
        before = snapshot()
        # when
        with pytest.raises(Exception) as info:
            getattr(services, f"friend_request_{action}")(user=bob, request_id=request.pk)
        # then
        assert (info.value.status_code, info.value.get_codes()) == (409, "not_pending")
        assert snapshot() == before

    def test_decline_publishes_nothing(self, alice, bob, pending):
        # given
        request = pending(alice, bob)
        # when
        services.friend_request_decline(user=bob, request_id=request.pk)
        # then
        request.refresh_from_db()
        assert request.status == "declined" and request.responded_at is not None
        assert (events(), Friendship.objects.count()) == ([], 0)


class TestFriendRequestCancel:
    def test_sender_cancels(self, alice, bob, pending):
        # given
        request = pending(alice, bob)
        # when
        services.friend_request_cancel(user=alice, request_id=request.pk)
        # then
        request.refresh_from_db()
        assert request.status == "cancelled" and request.responded_at is not None
        assert events() == []

    def test_recipient_cannot_cancel(self, alice, bob, pending):
        # given
        request = pending(alice, bob)
        # when
        with pytest.raises(PermissionDenied) as info:
            services.friend_request_cancel(user=bob, request_id=request.pk)
        # then
        assert info.value.get_codes() == "not_sender"
        assert FriendRequest.objects.get().status == "pending"

    def test_cancelled_twice_conflicts(self, alice, bob, pending):
        # given
        request = pending(alice, bob)
        services.friend_request_cancel(user=alice, request_id=request.pk)
        # when
        with pytest.raises(Exception) as info:
            services.friend_request_cancel(user=alice, request_id=request.pk)
        # then
        assert (info.value.status_code, info.value.get_codes()) == (409, "not_pending")


class TestFriendshipRemove:
    def test_removes_friendship_and_publishes_removed(self, alice, bob, befriend):
        # given
        befriend(alice, bob)
        # when
        services.friendship_remove(user=bob, friend_id=alice.pk)
        # then
        assert Friendship.objects.count() == 0
        assert events() == [
            ("friendship.removed", key(alice, bob), {"user_id": bob.pk, "friend_id": alice.pk}, bob.pk)
        ]

    def test_not_friends_is_not_found(self, alice, bob, carol, befriend):
        # given
        befriend(alice, carol)
        before = snapshot()
        # when
        with pytest.raises(NotFound) as info:
            services.friendship_remove(user=alice, friend_id=bob.pk)
        # then
        assert info.value.get_codes() == "not_friends"
        assert snapshot() == before


class TestBlock:
    def test_block_of_a_stranger_publishes_blocked_only(self, alice, bob):
        # when
        block = services.block_create(blocker=alice, blocked_id=bob.pk)
        # then
        assert (block.blocker_id, block.blocked_id) == (alice.pk, bob.pk)
        assert events() == [
            ("user.blocked", key(alice, bob), {"blocker_id": alice.pk, "blocked_id": bob.pk}, alice.pk)
        ]

    def test_block_of_a_friend_removes_friendship_and_requests_both_ways(
        self, alice, bob, carol, befriend, pending
    ):
        # given: friends, plus (historic) pending requests both ways and one with carol
        befriend(alice, bob)
        befriend(alice, carol)
        to_bob = pending(alice, bob)
        # a second pending row on the pair cannot exist; use carol's request to check scope
        from_carol = pending(carol, bob)
        # when
        services.block_create(blocker=bob, blocked_id=alice.pk)
        # then
        to_bob.refresh_from_db()
        from_carol.refresh_from_db()
        assert to_bob.status == "cancelled" and to_bob.responded_at is not None
        assert from_carol.status == "pending"
        low, high = sorted((alice.pk, carol.pk))
        assert list(Friendship.objects.values_list("user_low_id", "user_high_id")) == [(low, high)]
        assert events() == [
            ("friendship.removed", key(alice, bob), {"user_id": bob.pk, "friend_id": alice.pk}, bob.pk),
            ("user.blocked", key(alice, bob), {"blocker_id": bob.pk, "blocked_id": alice.pk}, bob.pk),
        ]

    def test_block_cancels_incoming_request_too(self, alice, bob, pending):
        # given
        request = pending(bob, alice)
        # when
        services.block_create(blocker=alice, blocked_id=bob.pk)
        # then
        request.refresh_from_db()
        assert request.status == "cancelled"

    def test_both_may_block_each_other(self, alice, bob, block):
        # given
        block(bob, alice)
        # when
        services.block_create(blocker=alice, blocked_id=bob.pk)
        # then
        assert set(Block.objects.values_list("blocker_id", "blocked_id")) == {
            (alice.pk, bob.pk),
            (bob.pk, alice.pk),
        }

    @pytest.mark.parametrize(
        "setup, status_code, code",
        [("self", 400, "self_target"), ("unknown", 404, "user_not_found"), ("again", 409, "already_blocked")],
    )
    def test_refusals_write_nothing(self, alice, bob, block, setup, status_code, code):
        # given
        target = {"self": alice.pk, "unknown": bob.pk + 1000, "again": bob.pk}[setup]
        if setup == "again":
            block(alice, bob)
        before = snapshot()
        # when
        with pytest.raises(Exception) as info:
            services.block_create(blocker=alice, blocked_id=target)
        # then
        assert (info.value.status_code, info.value.get_codes()) == (status_code, code)
        assert snapshot() == before

    def test_block_remove_deletes_only_own_block(self, alice, bob, block):
        # given
        block(alice, bob)
        block(bob, alice)
        # when
        services.block_remove(blocker=alice, blocked_id=bob.pk)
        # then
        assert list(Block.objects.values_list("blocker_id", "blocked_id")) == [(bob.pk, alice.pk)]
        assert events() == []

    def test_block_remove_without_block_is_not_found(self, alice, bob, block):
        # given: only bob blocked alice
        block(bob, alice)
        # when
        with pytest.raises(NotFound) as info:
            services.block_remove(blocker=alice, blocked_id=bob.pk)
        # then
        assert info.value.get_codes() == "block_not_found"
        assert Block.objects.count() == 1

    def test_unblocking_does_not_restore_friendship(self, alice, bob, befriend):
        # given
        befriend(alice, bob)
        services.block_create(blocker=alice, blocked_id=bob.pk)
        # when
        services.block_remove(blocker=alice, blocked_id=bob.pk)
        # then
        assert (Friendship.objects.count(), Block.objects.count()) == (0, 0)
