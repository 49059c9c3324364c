"""Erasing an account reaches every store that holds the user, on both backends of every
two-backend store (ORM; MongoDB + Neo4j), with the real PostgreSQL and Redis: exact counts of
what each store held of the user before, nothing after, and what other people keep.

Transactional tests: the in-process bus dispatches after each commit and Celery is eager, so
every ``user.deleted`` handler (and the ``user.content_erased`` ones they trigger) runs inside
the erasure's call, as the workers would one after the other.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from bellamy.accounts import lifecycle
from bellamy.accounts.models import AccountErasure
from bellamy.events.models import OutboxEvent
from bellamy.realtime.presence import get_presence
from exports.models import ExportJob
from feed.models import ContentScore
from graph.models import Block, FriendRequest, Friendship
from notifications.stores import get_notification_store
from posts.models import Comment, Hashtag, Like, Post, Report
from tests.accounts.world import (
    build_world,
    export_files,
    graph_footprint,
    login,
    neo4j_footprint,
    notification_footprint,
    pg_footprint,
    redis_keys,
)
from trends.models import HashtagBucket

pytestmark = pytest.mark.django_db(transaction=True)


def notifications_of(user_id: int) -> list[tuple[str, tuple[int, ...], int]]:
    """``(type, actors, actor_count)`` of every notification of ``user_id``, sorted."""
    items, _ = get_notification_store().list_for(user_id, limit=100)
    return sorted((r.type, r.actors, r.actor_count) for r in items)


def normalised(key: str) -> str:
    """A Redis key with a feed page's or suggestion list's random version token replaced by ``<version>``."""
    parts = key.split(":")
    if parts[2:4] == ["feed", "page"] or (parts[2:4] == ["graph", "suggestions"] and parts[4] != "ver"):
        parts[5] = "<version>"
    return ":".join(parts)


def golden_bucket() -> tuple[int, int]:
    bucket = HashtagBucket.objects.get(hashtag__name="golden")
    return bucket.uses, bucket.authors


def erase(user) -> str:
    """Request the deletion through the API (grace 0), then run ``manage.py accounts_erase``."""
    client = login(user.username)
    response = client.post("/api/users/me/deletion", {"password": "correct-horse-battery"}, format="json")
    assert response.status_code == 202, response.content
    out = StringIO()
    call_command("accounts_erase", stdout=out)
    return out.getvalue().strip()


def test_erasure_leaves_nothing_of_the_user_in_any_store(stores, user_factory, settings):
    settings.BELLAMY_ACCOUNT_DELETION_GRACE_DAYS = 0
    world = build_world(user_factory)
    leaver, ann, bob = world.leaver, world.ann, world.bob
    own_posts = [world.p_public.pk, world.p_friends.pk, world.p_private.pk]
    # given: what each store holds of the leaver
    expected_pg = {
        "accounts.TokenFamily.user": 1,             # the login of the deletion request
        "accounts.User": 1,
        "exports.ExportJob.user": 1,
        "graph.Block.blocked": 1,                   # eve blocks leaver
        "graph.Block.blocker": 1,                   # leaver blocks dan
        "graph.FriendRequest.from_user": 3,         # to ann, bob (accepted), cid (pending)
        "graph.Friendship.user_low": 2,             # ann, bob (leaver has the lowest id)
        "posts.Comment.author": 1,
        "posts.Like.user": 2,
        "posts.Post.author": 3,
        "posts.Report.reporter": 1,
        "token_blacklist.OutstandingToken.user": 1,
        "trends.HashtagAuthorBucket.author": 1,     # #golden, public post only
        "trends.TrendContribution.author": 1,
    }
    if stores == "orm":
        expected_pg |= {
            # received: 2 friend_accepted, friend_posted of ann's and bob's posts, the grouped
            # like and comment on the public post, export_ready
            "notifications.Notification.recipient_id": 7,
            # acted in: 3 friend requests, ann mentioned in the public post, friend_posted to
            # bob (public) and to ann and bob (friends-only), the like groups of ann's and bob's
            # posts, the comment group of ann's post, bob mentioned in the comment, export_ready
            "notifications.Notification.actors": 12,
            "graph.FriendEdge": 2,
            "graph.Interaction": 4,                 # leaver -> ann, bob; ann, bob -> leaver
        }
    assert pg_footprint(leaver.pk) == expected_pg
    # 7 received + 12 acted in - export_ready (both) + bob mentioned by ann under the public post
    assert notification_footprint(leaver.pk, own_posts) == 7 + 12 - 1 + 1
    assert graph_footprint(leaver.pk) == {"friends": 2, "weights_out": 2}
    if stores != "orm":
        # leaver's node with 2 FRIEND edges and 4 INTERACTS (2 out, 2 in)
        assert neo4j_footprint(leaver.pk) == (1, 6)
    prefix = settings.BELLAMY_KEY_PREFIX
    assert [normalised(key) for key in redis_keys(leaver.pk)] == sorted([
        f"{prefix}:1:feed:page:{leaver.pk}:<version>:ranked:20:-",
        f"{prefix}:1:feed:page:{leaver.pk}:<version>:ranked:20:-:objects",  # the page's rendered posts
        f"{prefix}:1:feed:page:{leaver.pk}:<version>:recent:20:-",
        f"{prefix}:1:feed:page:{leaver.pk}:<version>:recent:20:-:objects",
        f"{prefix}:1:feed:pushed:{leaver.pk}",
        f"{prefix}:1:feed:ver:{leaver.pk}",
        f"{prefix}:1:graph:suggestions:{leaver.pk}:<version>:30",
        f"{prefix}:1:graph:suggestions:ver:{leaver.pk}",
        f"{prefix}:presence:conns:{leaver.pk}",
    ]) + ["presence:online member"]
    assert export_files(world.export)
    assert (world.a_post.like_count, world.a_post.comment_count, world.b_post.like_count) == (2, 2, 1)
    assert golden_bucket() == (2, 2)
    assert ContentScore.objects.get(post=world.a_post).distinct_engagers == 2
    assert notifications_of(ann.pk) == sorted([
        ("friend_request", (leaver.pk,), 1),
        ("friend_accepted", (bob.pk,), 1),
        ("mentioned", (leaver.pk,), 1),         # in the leaver's public post
        ("friend_posted", (leaver.pk,), 1),     # the friends-only post
        ("friend_posted", (bob.pk,), 1),
        ("post_liked", (bob.pk, leaver.pk), 2),
        ("post_commented", (bob.pk, leaver.pk), 2),
    ])
    assert len(notifications_of(bob.pk)) == 8

    # when the leaver deletes their account and the erasure runs
    summary = erase(leaver)

    # then the command erased and completed it, and published one user.deleted
    assert summary == f"erased 1 account(s) [{leaver.pk}]; completed 1 erasure(s) [{leaver.pk}]; 0 in progress"
    erasure = AccountErasure.objects.get(user_id=leaver.pk)
    assert erasure.completed_at is not None
    assert list(OutboxEvent.objects.filter(type="user.deleted").values_list("payload__data", flat=True)) == [
        {"user_id": leaver.pk}
    ]
    assert list(OutboxEvent.objects.filter(type="user.content_erased").values_list("payload__data", flat=True)) == [
        {"user_id": leaver.pk, "post_ids": own_posts, "engaged_post_ids": sorted([world.a_post.pk, world.b_post.pk])}
    ]
    # and nothing of the leaver remains anywhere
    assert pg_footprint(leaver.pk) == {}
    assert notification_footprint(leaver.pk, own_posts) == 0
    assert graph_footprint(leaver.pk) == {"friends": 0, "weights_out": 0}
    if stores != "orm":
        assert neo4j_footprint(leaver.pk) == (0, 0)
    assert redis_keys(leaver.pk) == []
    assert get_presence().online([leaver.pk]) == set()
    assert not export_files(world.export)
    assert not Post.objects.filter(pk__in=own_posts).exists()
    assert not Hashtag.objects.filter(name="leaverstag").exists()  # only the leaver used it

    # while what others wrote stays, recounted and regrouped without the leaver
    world.a_post.refresh_from_db()
    world.b_post.refresh_from_db()
    assert (world.a_post.like_count, world.a_post.comment_count, world.b_post.like_count) == (1, 1, 0)
    assert list(Like.objects.filter(post=world.a_post).values_list("user_id", flat=True)) == [bob.pk]
    assert list(Comment.objects.filter(post=world.a_post).values_list("author_id", flat=True)) == [bob.pk]
    score = ContentScore.objects.get(post=world.a_post)
    assert (score.likes, score.comments, score.commenters, score.distinct_engagers) == (1, 1, 1, 1)
    assert golden_bucket() == (1, 1)
    assert notifications_of(ann.pk) == sorted([
        ("friend_accepted", (bob.pk,), 1),
        ("friend_posted", (bob.pk,), 1),
        ("post_commented", (bob.pk,), 1),
        ("post_liked", (bob.pk,), 1),
    ])
    assert notifications_of(bob.pk) == sorted([("friend_request", (ann.pk,), 1), ("mentioned", (ann.pk,), 1)])
    assert list(Friendship.objects.values_list("user_low_id", "user_high_id")) == [(ann.pk, bob.pk)]
    assert (FriendRequest.objects.count(), Block.objects.count()) == (1, 0)  # ann -> bob
    assert graph_footprint(ann.pk)["friends"] == 1
    # the leaver's report of bob's post stays for the moderators, anonymised
    assert list(Report.objects.values_list("post_id", "reporter_id", "reason", "details")) == [
        (world.b_post.pk, None, "spam", "")
    ]
    assert ExportJob.objects.count() == 0


def test_erasure_is_idempotent_and_a_redelivered_user_deleted_changes_nothing(stores, user_factory, settings):
    settings.BELLAMY_ACCOUNT_DELETION_GRACE_DAYS = 0
    world = build_world(user_factory)
    erase(world.leaver)
    counts = (Post.objects.count(), Like.objects.count(), get_notification_store().count(), Friendship.objects.count())
    # when the erasure and every user.deleted handler run again (a redelivery, a second sweep)
    assert lifecycle.account_erase(user_id=world.leaver.pk, force=True) is None
    from posts.services import user_content_erase
    from graph.services import user_relations_erase
    from notifications.services import notifications_user_erase
    from trends.services import authors_trend_sync

    assert user_content_erase(user_ids=[world.leaver.pk]).posts == 0
    assert user_relations_erase(user_ids=[world.leaver.pk]).friendships == 0
    assert notifications_user_erase(user_ids=[world.leaver.pk]) == 0
    assert (authors_trend_sync(author_ids=[world.leaver.pk]).added, authors_trend_sync(author_ids=[world.leaver.pk]).removed) == (0, 0)
    # then nothing changed
    assert counts == (Post.objects.count(), Like.objects.count(), get_notification_store().count(),
                      Friendship.objects.count())
    assert AccountErasure.objects.count() == 1


def test_the_husk_stays_until_every_store_has_handled_user_deleted(user_factory, monkeypatch):
    # given an account whose erasure one store could not finish (the exports handler fails)
    from exports import tasks as export_tasks

    monkeypatch.setattr(export_tasks.services, "exports_user_erase", _raise)
    user = user_factory(username="halfway")
    assert lifecycle.account_erase(user_id=user.pk, force=True) is not None
    # the erasure committed: an anonymised husk and the tombstone; user.deleted stays unsent
    # in the outbox (the in-process bus failed to dispatch it), for the relay sweep to retry
    husk = type(user).objects.get(pk=user.pk)
    assert (husk.username, husk.email, husk.display_name, husk.is_active, husk.has_usable_password()) == (
        f"deleted-{user.pk}", "", "", False, False)
    erasure = AccountErasure.objects.get(user_id=user.pk)
    assert [task for task, done in lifecycle.erasure_progress(erasure).items() if not done] == [
        "exports.user_deleted_task"]
    assert OutboxEvent.objects.get(type="user.deleted").sent_at is None
    # when the sweep runs, the erasure stays in progress and the status says what it waits for
    out = StringIO()
    call_command("accounts_erase", "--status", stdout=out)
    assert out.getvalue().splitlines() == [
        f"user {user.pk} erased at {erasure.erased_at.isoformat()} (event {erasure.event_id}): "
        "waiting for exports.user_deleted_task",
        "1 erasure(s) in progress",
    ]
    assert lifecycle.account_erasures_complete() == []
    assert type(user).objects.filter(pk=user.pk).exists()
    # and once the outbox sweep delivered it again (the other handlers skip it: already done),
    # the next erasure sweep deletes the husk
    monkeypatch.undo()
    from bellamy.events.services import relay_all_pending

    assert relay_all_pending().sent == 1
    assert lifecycle.account_erasures_complete() == [user.pk]
    assert not type(user).objects.filter(pk=user.pk).exists()
    assert AccountErasure.objects.get(user_id=user.pk).completed_at is not None


def _raise(**kwargs):
    raise RuntimeError("exports store unavailable")


def test_accounts_erase_refuses_bad_arguments_and_changes_nothing(user_factory):
    user = user_factory(username="stays")
    for args, message in [
        (("--force",), "--force needs --user ID"),
        (("--user", "999999999"), "unknown user id(s): 999999999"),
        (("--limit", "0"), "--limit must be >= 1"),
    ]:
        with pytest.raises(CommandError, match=re.escape(message)):
            call_command("accounts_erase", *args, stdout=StringIO())
    user.refresh_from_db()
    assert (user.is_active, user.erased_at, AccountErasure.objects.count(), OutboxEvent.objects.count()) == (
        True, None, 0, 0)


def test_accounts_erase_erases_only_due_accounts_unless_forced(user_factory):
    from datetime import timedelta

    from django.utils import timezone

    due = user_factory(username="due")
    later = user_factory(username="later")
    active = user_factory(username="active")
    lifecycle.account_deletion_request(user=due, grace=timedelta(0))
    lifecycle.account_deletion_request(user=later, grace=timedelta(days=3))
    out = StringIO()
    call_command("accounts_erase", "--dry-run", stdout=out)
    assert out.getvalue().strip() == f"would erase 1 account(s) [{due.pk}]; would complete 0 erasure(s) []"
    assert AccountErasure.objects.count() == 0
    out = StringIO()
    call_command("accounts_erase", stdout=out)
    assert out.getvalue().strip() == f"erased 1 account(s) [{due.pk}]; completed 1 erasure(s) [{due.pk}]; 0 in progress"
    later.refresh_from_db()
    assert (later.erased_at, later.deletion_due_at > timezone.now()) == (None, True)
    # the operator's forced deletion of an account nobody asked to delete
    out = StringIO()
    call_command("accounts_erase", "--user", str(active.pk), "--force", stdout=out)
    assert out.getvalue().strip() == (
        f"erased 1 account(s) [{active.pk}]; completed 1 erasure(s) [{active.pk}]; 0 in progress")
    assert sorted(AccountErasure.objects.values_list("user_id", flat=True)) == sorted([due.pk, active.pk])
