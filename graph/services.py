"""Writes of the social graph: friend requests, friendships and blocks.

Every service runs in one ``transaction.atomic()`` and publishes its events through the outbox
(:func:`bellamy.events.services.publish`) in the same transaction, so a rolled-back write
publishes nothing. Event key for every graph event: ``"<min user id>:<max user id>"``.

Concurrency (PostgreSQL): each service that changes the relation between two users first
locks both users' rows (``SELECT … FOR NO KEY UPDATE``, lower id first), so concurrent
requests, accepts, unfriends and blocks on one pair run one after the other and each sees the
other's result. The partial unique index on pending requests and the unique pair constraints
are the last line of defence; a violation still answers 409, never a 500.

Errors are :class:`rest_framework.exceptions.APIException` subclasses carrying the API's status
and machine ``code`` (API.md "Social graph"), so views let them propagate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied

from bellamy.events.services import publish
from graph import selectors
from graph.models import Block, FriendRequest, Friendship


class Conflict(APIException):
    """409: the action contradicts the current state (already friends, pending, blocked…)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class SelfTarget(APIException):
    """400: a user tried to befriend or block themself."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "You cannot do this to yourself."
    default_code = "self_target"


def _user_not_found() -> NotFound:
    return NotFound("No such user.", code="user_not_found")


def _request_not_found() -> NotFound:
    return NotFound("No such friend request.", code="request_not_found")


def _lock_users(*user_ids: int) -> dict:
    """Lock the given users' rows (ascending id, no deadlocks) and return ``{id: user}``.

    Inactive users are returned too; callers decide. Must run inside ``transaction.atomic``.
    """
    User = get_user_model()
    users = (
        User.objects.select_for_update(no_key=True)
        .filter(id__in=sorted(set(user_ids)))
        .order_by("id")
    )
    return {user.id: user for user in users}


def friend_request_send(*, from_user, to_user_id: int) -> FriendRequest:
    """``from_user`` asks ``to_user_id`` to become friends.

    Args:
        from_user: the sender (an active User).
        to_user_id: the recipient's id.
    Returns:
        The new pending FriendRequest (``from_user`` and ``to_user`` loaded).
    Raises:
        SelfTarget: ``to_user_id`` is the sender (400, code ``self_target``).
        NotFound: unknown or inactive recipient, or a block either way (404,
            ``user_not_found`` — a block is never revealed).
        Conflict: already friends (409, ``already_friends``) or a request is pending in either
            direction (409, ``request_pending``).
    Publishes:
        ``friendship.requested`` {request_id, from_user_id, to_user_id}, actor = sender.
    """
    if to_user_id == from_user.id:
        raise SelfTarget("You cannot send a friend request to yourself.", code="self_target")
    with transaction.atomic():
        users = _lock_users(from_user.id, to_user_id)
        to_user = users.get(to_user_id)
        if to_user is None or not to_user.is_active:
            raise _user_not_found()
        blocked, friends, pending = selectors.pair_state(from_user.id, to_user_id)
        if blocked:
            raise _user_not_found()
        if friends:
            raise Conflict("You are already friends.", code="already_friends")
        if pending:
            raise Conflict("A friend request between you is already pending.", code="request_pending")
        # Both users are locked, so the checks above hold until commit; the unique constraint
        # stays the last word. No savepoint: on a violation the whole transaction (which
        # wrote nothing else) rolls back with the 409.
        try:
            request = FriendRequest.objects.create(from_user=users[from_user.id], to_user=to_user)
        except IntegrityError:
            raise Conflict(
                "A friend request between you is already pending.", code="request_pending"
            ) from None
        publish(
            "friendship.requested",
            key=selectors.pair_key(from_user.id, to_user_id),
            data={"request_id": request.id, "from_user_id": from_user.id, "to_user_id": to_user_id},
            actor_id=from_user.id,
        )
    return request


def _get_request_for(user, request_id: int, *, lock: bool) -> FriendRequest:
    """Return the request ``request_id`` if ``user`` is one of its two users, else 404.

    Requests whose other party is inactive are treated as not found.
    """
    requests = FriendRequest.objects.select_related("from_user", "to_user")
    if lock:
        requests = requests.select_for_update(of=("self",))
    request = requests.filter(
        Q(from_user_id=user.id) | Q(to_user_id=user.id), id=request_id
    ).first()
    if request is None:
        raise _request_not_found()
    other = request.to_user if request.from_user_id == user.id else request.from_user
    if not other.is_active:
        raise _request_not_found()
    return request


@dataclass(frozen=True)
class Acceptance:
    """Result of :func:`friend_request_accept`: the new friend and when the friendship began."""

    friend: object
    since: datetime
    request: FriendRequest


def friend_request_accept(*, user, request_id: int) -> Acceptance:
    """The recipient ``user`` accepts the pending request ``request_id``.

    Returns:
        :class:`Acceptance` (``friend`` = the sender, ``since`` = the friendship's created_at).
    Raises:
        NotFound: no such request, ``user`` is neither its sender nor its recipient, or the
            sender is inactive (404, ``request_not_found``).
        PermissionDenied: ``user`` is the sender (403, ``not_recipient``).
        Conflict: the request is not pending (409, ``not_pending``).
    Publishes:
        ``friendship.accepted`` {request_id, from_user_id (the sender), to_user_id (``user``)},
        actor = ``user``.
    """
    with transaction.atomic():
        request = _get_request_for(user, request_id, lock=False)
        _lock_users(request.from_user_id, request.to_user_id)
        request = _get_request_for(user, request_id, lock=True)
        _check_recipient(user, request)
        now = timezone.now()
        request.status = FriendRequest.Status.ACCEPTED
        request.responded_at = now
        request.save(update_fields=["status", "responded_at"])
        low, high = selectors.pair(request.from_user_id, request.to_user_id)
        friendship, _ = Friendship.objects.get_or_create(user_low_id=low, user_high_id=high)
        publish(
            "friendship.accepted",
            key=selectors.pair_key(low, high),
            data={
                "request_id": request.id,
                "from_user_id": request.from_user_id,
                "to_user_id": request.to_user_id,
            },
            actor_id=user.id,
        )
    return Acceptance(friend=request.from_user, since=friendship.created_at, request=request)


def _check_recipient(user, request: FriendRequest) -> None:
    if request.to_user_id != user.id:
        raise PermissionDenied("Only the recipient can answer a friend request.", code="not_recipient")
    if request.status != FriendRequest.Status.PENDING:
        raise Conflict(f"This friend request is already {request.status}.", code="not_pending")


def friend_request_decline(*, user, request_id: int) -> FriendRequest:
    """The recipient ``user`` declines the pending request ``request_id``.

    Returns:
        The request, now ``declined``.
    Raises:
        NotFound / PermissionDenied / Conflict: as :func:`friend_request_accept`.
    Publishes:
        nothing (the sender is not told).
    """
    with transaction.atomic():
        request = _get_request_for(user, request_id, lock=True)
        _check_recipient(user, request)
        request.status = FriendRequest.Status.DECLINED
        request.responded_at = timezone.now()
        request.save(update_fields=["status", "responded_at"])
    return request


def friend_request_cancel(*, user, request_id: int) -> FriendRequest:
    """The sender ``user`` withdraws the pending request ``request_id``.

    Returns:
        The request, now ``cancelled``.
    Raises:
        NotFound: no such request or ``user`` is not one of its users (404, ``request_not_found``).
        PermissionDenied: ``user`` is the recipient (403, ``not_sender``).
        Conflict: the request is not pending (409, ``not_pending``).
    Publishes:
        nothing.
    """
    with transaction.atomic():
        request = _get_request_for(user, request_id, lock=True)
        if request.from_user_id != user.id:
            raise PermissionDenied("Only the sender can cancel a friend request.", code="not_sender")
        if request.status != FriendRequest.Status.PENDING:
            raise Conflict(f"This friend request is already {request.status}.", code="not_pending")
        request.status = FriendRequest.Status.CANCELLED
        request.responded_at = timezone.now()
        request.save(update_fields=["status", "responded_at"])
    return request


def friendship_remove(*, user, friend_id: int) -> None:
    """``user`` unfriends ``friend_id``.

    Raises:
        NotFound: they are not friends (404, ``not_friends``).
    Publishes:
        ``friendship.removed`` {user_id (``user``), friend_id}, actor = ``user``.
    """
    with transaction.atomic():
        _lock_users(user.id, friend_id)
        low, high = selectors.pair(user.id, friend_id)
        deleted, _ = Friendship.objects.filter(user_low_id=low, user_high_id=high).delete()
        if not deleted:
            raise NotFound("You are not friends with this user.", code="not_friends")
        publish(
            "friendship.removed",
            key=selectors.pair_key(low, high),
            data={"user_id": user.id, "friend_id": friend_id},
            actor_id=user.id,
        )


def block_create(*, blocker, blocked_id: int) -> Block:
    """``blocker`` blocks ``blocked_id``: removes their friendship and cancels pending requests
    both ways; from now on neither sees the other.

    Args:
        blocker: the acting user.
        blocked_id: the id of the user to block (inactive users can be blocked too).
    Returns:
        The new Block.
    Raises:
        SelfTarget: ``blocked_id`` is the blocker (400, ``self_target``).
        NotFound: no such user (404, ``user_not_found``).
        Conflict: ``blocker`` already blocked them (409, ``already_blocked``).
    Publishes:
        ``friendship.removed`` {user_id: blocker, friend_id: blocked} if they were friends,
        then ``user.blocked`` {blocker_id, blocked_id}; actor = blocker.
    """
    if blocked_id == blocker.id:
        raise SelfTarget("You cannot block yourself.", code="self_target")
    with transaction.atomic():
        users = _lock_users(blocker.id, blocked_id)
        if blocked_id not in users:
            raise _user_not_found()
        if selectors.has_blocked(blocker.id, blocked_id):
            raise Conflict("You already blocked this user.", code="already_blocked")
        try:
            with transaction.atomic():
                block = Block.objects.create(blocker=users[blocker.id], blocked=users[blocked_id])
        except IntegrityError:
            raise Conflict("You already blocked this user.", code="already_blocked") from None
        low, high = selectors.pair(blocker.id, blocked_id)
        key = selectors.pair_key(low, high)
        FriendRequest.objects.filter(
            Q(from_user_id=blocker.id, to_user_id=blocked_id)
            | Q(from_user_id=blocked_id, to_user_id=blocker.id),
            status=FriendRequest.Status.PENDING,
        ).update(status=FriendRequest.Status.CANCELLED, responded_at=timezone.now())
        unfriended, _ = Friendship.objects.filter(user_low_id=low, user_high_id=high).delete()
        if unfriended:
            publish(
                "friendship.removed",
                key=key,
                data={"user_id": blocker.id, "friend_id": blocked_id},
                actor_id=blocker.id,
            )
        publish(
            "user.blocked",
            key=key,
            data={"blocker_id": blocker.id, "blocked_id": blocked_id},
            actor_id=blocker.id,
        )
    return block


def block_remove(*, blocker, blocked_id: int) -> None:
    """``blocker`` lifts their block on ``blocked_id`` (friendship is not restored).

    Raises:
        NotFound: ``blocker`` has no block on that user (404, ``block_not_found``).
    Publishes:
        nothing (no event type is registered for it).
    """
    with transaction.atomic():
        _lock_users(blocker.id, blocked_id)
        deleted, _ = Block.objects.filter(blocker_id=blocker.id, blocked_id=blocked_id).delete()
        if not deleted:
            raise NotFound("You have not blocked this user.", code="block_not_found")


# --- account erasure (README "Account lifecycle") --------------------------------------------


@dataclass(frozen=True)
class RelationsErasure:
    """What :func:`user_relations_erase` deleted."""

    friend_requests: int
    friendships: int
    blocks: int


def user_relations_erase(*, user_ids: list[int]) -> RelationsErasure:
    """Forget the relations of erased accounts in PostgreSQL (``user.deleted``): every friend
    request they sent or received (pending or answered), their friendships and the blocks they
    made or received, in one transaction.

    No ``friendship.removed`` is published: the graph store forgets the user's node with all
    its edges and weights in the same handler (:func:`graph.tasks.user_deleted_task`), and the
    former friends' feeds were invalidated when the account was deactivated (a cached page is
    re-checked on every read anyway).

    Returns:
        :class:`RelationsErasure` counts. Idempotent: a second run deletes nothing.
    Events:
        None.
    """
    ids = sorted(set(user_ids))
    with transaction.atomic():
        requests, _ = FriendRequest.objects.filter(Q(from_user_id__in=ids) | Q(to_user_id__in=ids)).delete()
        friendships, _ = Friendship.objects.filter(Q(user_low_id__in=ids) | Q(user_high_id__in=ids)).delete()
        blocks, _ = Block.objects.filter(Q(blocker_id__in=ids) | Q(blocked_id__in=ids)).delete()
    return RelationsErasure(friend_requests=requests, friendships=friendships, blocks=blocks)
