"""The backfills issue 11 adds: ``events_replay`` (outbox replay) and ``feed_cache`` (warm/flush)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from bellamy.events.models import OutboxEvent, ProcessedEvent
from feed.cache import page_key
from posts.services import post_create


@pytest.fixture(autouse=True)
def _embedded_pipeline(settings):
    settings.BELLAMY_EVENTS = {"BACKEND": "bellamy.events.backends.inprocess.InProcessBus", "OPTIONS": {}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.BELLAMY_GRAPH = {"BACKEND": "graph.stores.orm.OrmGraphStore", "OPTIONS": {}}
    settings.BELLAMY_NOTIFICATIONS = {"BACKEND": "notifications.stores.orm.OrmNotificationStore", "OPTIONS": {}}


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), no_progress=True, **options)
    return out.getvalue().strip()


@pytest.fixture
def handled_post(user_factory, django_capture_on_commit_callbacks):
    """A post whose ``post.created`` was relayed and handled by every task."""
    author = user_factory()
    with django_capture_on_commit_callbacks(execute=True):
        post_create(author=author, content="hello #replay")
    return author


# --- events_replay ------------------------------------------------------------------------------


def test_events_replay_sends_the_rows_again_and_tasks_skip_what_they_handled(handled_post):
    # given: one sent post.created, handled by its tasks
    row = OutboxEvent.objects.get()
    first_sent = row.sent_at
    processed = ProcessedEvent.objects.count()
    assert first_sent is not None and processed > 0

    # when
    output = run("events_replay", since=(timezone.now() - timedelta(minutes=5)).isoformat())

    # then: marked unsent, relayed again (a new sent_at), no task ran twice
    row.refresh_from_db()
    assert output.startswith("replayed 1 outbox events (0 were not yet sent): relayed 1, failed 0 in ")
    assert row.sent_at is not None and row.sent_at > first_sent
    assert row.attempts == 2
    assert ProcessedEvent.objects.count() == processed


def test_events_replay_filters_by_type_and_time_and_dry_run_changes_nothing(handled_post):
    # given
    row = OutboxEvent.objects.get()
    since = (timezone.now() - timedelta(minutes=5)).isoformat()

    # when / then: another type, a later --since, and a dry run touch nothing
    assert run("events_replay", since=since, types=["post.liked"]).startswith("replayed 0 outbox events")
    assert run("events_replay", since=(timezone.now() + timedelta(minutes=1)).isoformat()).startswith(
        "replayed 0 outbox events")
    assert run("events_replay", since=since, dry_run=True) == "would replay 1 outbox events (0 not yet sent)"
    assert run("events_replay", since=since, no_relay=True).startswith(
        "replayed 1 outbox events (0 were not yet sent): left for the relay sweep")
    after = OutboxEvent.objects.get()
    assert (after.sent_at, after.attempts) == (None, row.attempts)


@pytest.mark.django_db
def test_events_replay_rejects_bad_arguments_and_changes_nothing():
    with pytest.raises(CommandError, match="not an ISO 8601"):
        run("events_replay", since="yesterday")
    with pytest.raises(CommandError, match="unregistered event type"):
        run("events_replay", since="2026-01-01", types=["post.exploded"])
    assert OutboxEvent.objects.count() == 0


# --- feed_cache -------------------------------------------------------------------------------


def test_feed_cache_warm_caches_first_pages_once_and_flush_makes_them_unreachable(handled_post, user_factory):
    # given: two active users (one with a post), nothing cached
    other = user_factory()
    keys = [page_key(u.pk, order="ranked", limit=20, cursor=None) for u in (handled_post, other)]
    assert cache.get_many(keys) == {}

    # when: a dry run, then a warm-up of the first user only, then of everyone
    assert run("feed_cache", warm=True, dry_run=True) == "would warm 2 feed pages of 2 users"
    assert cache.get_many(keys) == {}
    assert run("feed_cache", warm=True, users=1).startswith("warmed 1 feed pages (0 already cached) of 1 users")
    assert run("feed_cache", warm=True).startswith("warmed 1 feed pages (1 already cached) of 2 users")

    # then: both first pages are cached; the author's holds the post
    cached = cache.get(keys[0])
    assert len(cached["ids"]) == 1
    assert cache.get(keys[1]) == {"ids": [], "next": None}

    # when: flushed
    assert run("feed_cache", flush=True).startswith("flushed the feed cache of 2 users in ")

    # then: the pages are no longer reachable under the new versions
    new_keys = [page_key(u.pk, order="ranked", limit=20, cursor=None) for u in (handled_post, other)]
    assert set(new_keys).isdisjoint(keys)
    assert cache.get_many(new_keys) == {}


@pytest.mark.django_db
def test_feed_cache_needs_exactly_one_action_and_a_valid_limit():
    with pytest.raises(CommandError):
        run("feed_cache")
    with pytest.raises(CommandError, match="--limit must be 1..100"):
        run("feed_cache", warm=True, limit=0)
