"""analytics_rollup: exact counts of constructed days, idempotent upsert, pruned sources kept,
notification stores without a count, the periodic task and the recompute command."""

from datetime import UTC, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from analytics.models import METRICS, DailyStats
from analytics.services import analytics_rollup
from analytics.tasks import rollup_recent_task
from bellamy.events.models import ProcessedEvent
from notifications.models import Notification
from tests.analytics.conftest import DAY0, DAY1, DAY2, EXPECTED
from tests.posts.factories import PostFactory

pytestmark = pytest.mark.django_db


def stored() -> dict:
    return {row.day: row.metrics() for row in DailyStats.objects.all()}


@pytest.mark.parametrize("day", [DAY0, DAY1, DAY2])
def test_rollup_counts_each_constructed_day_exactly(world, day):
    stats, changed = analytics_rollup(day=day)
    assert stats.metrics() == EXPECTED[day]
    assert changed is True
    assert stored() == {day: EXPECTED[day]}


def test_rollup_is_an_idempotent_upsert(world):
    first, _ = analytics_rollup(day=DAY1)
    second, changed = analytics_rollup(day=DAY1)
    assert changed is False
    assert DailyStats.objects.count() == 1
    assert second.pk == first.pk
    assert second.computed_at >= first.computed_at
    assert stored() == {DAY1: EXPECTED[DAY1]}


def test_rollup_follows_changes_but_keeps_pruned_history(world):
    analytics_rollup(day=DAY1)
    # given a new post that day, an unlike, and the day's idempotency records and
    # notifications pruned (the day is older than both retentions)
    PostFactory(author=world.users["carol"], created_at=timezone.datetime(2024, 3, 1, 20, tzinfo=UTC))
    world.users["dave"].post_likes.all().delete()
    ProcessedEvent.objects.all().delete()
    Notification.objects.all().delete()
    # when recomputing the day
    stats, changed = analytics_rollup(day=DAY1)
    # then posts, likes and active users follow (dave's only activity was the undone like),
    # the pruned sources keep their stored values
    assert changed is True
    assert stats.metrics() == {**EXPECTED[DAY1], "posts": 4, "likes": 3, "active_users": 4}


def test_recent_days_are_recounted_from_live_sources(user_factory):
    # given today's events rolled up, then one idempotency record pruned
    import uuid

    today = timezone.now().astimezone(UTC).date()
    ids = [uuid.uuid4(), uuid.uuid4()]
    for event_id in ids:
        ProcessedEvent.objects.create(event_id=event_id, task_name="feed.post_created_task")
    assert analytics_rollup(day=today)[0].events_processed == 2
    ProcessedEvent.objects.filter(event_id=ids[0]).delete()
    # then a recent day is recounted (nothing was pruned by retention yet)
    assert analytics_rollup(day=today)[0].events_processed == 1


def test_notifications_are_counted_in_the_mongodb_store_too(world, settings):
    # given the MongoDB store configured, holding two notifications created on DAY2
    from datetime import datetime, time

    from pymongo import MongoClient

    from bellamy.backends import reset_backend
    from notifications.stores import get_notification_store
    from notifications.stores.base import NewNotification

    database = "bellamy_test_analytics_count"
    settings.BELLAMY_NOTIFICATIONS = {
        "BACKEND": "notifications.stores.mongo.MongoNotificationStore",
        "OPTIONS": {"url": "mongodb://127.0.0.1:27017", "database": database},
    }
    noon = datetime.combine(DAY2, time(12), tzinfo=UTC)
    try:
        get_notification_store().add_many(
            [NewNotification(1, "friend_posted", "e1", 2, noon), NewNotification(3, "friend_posted", "e1", 2, noon)]
        )
        # then the rollup counts them
        assert analytics_rollup(day=DAY2)[0].notifications_sent == 2
    finally:
        reset_backend("BELLAMY_NOTIFICATIONS")
        MongoClient("mongodb://127.0.0.1:27017").drop_database(database)


def test_dry_run_writes_nothing(world):
    stats, changed = analytics_rollup(day=DAY1, dry_run=True)
    assert (stats.metrics(), changed, stats.pk) == (EXPECTED[DAY1], True, None)
    assert DailyStats.objects.count() == 0


def test_periodic_task_rolls_up_yesterday_and_today(user_factory):
    today = timezone.now().astimezone(UTC).date()
    user_factory(username="newbie")  # joined now
    assert rollup_recent_task.delay().get() == [(today - timedelta(days=1)).isoformat(), today.isoformat()]
    assert {day: m["new_users"] for day, m in stored().items()} == {today - timedelta(days=1): 0, today: 1}


def recompute(*args) -> str:
    out = StringIO()
    call_command("analytics_recompute", *args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_recompute_command_range_dry_run_and_idempotence(world):
    # dry run: reports, writes nothing
    line = recompute("--since", "2024-02-29", "--until", "2024-03-02", "--dry-run")
    assert line.startswith("analytics_recompute: 3 day(s) 2024-02-29..2024-03-02, 3 would change (dry run, nothing written) in ")
    assert DailyStats.objects.count() == 0
    # real run: the three days, exactly
    assert recompute("--since", "2024-02-29", "--until", "2024-03-02").startswith(
        "analytics_recompute: 3 day(s) 2024-02-29..2024-03-02, 3 changed in "
    )
    assert stored() == EXPECTED
    # again: nothing changes
    assert recompute("--since", "2024-02-29", "--until", "2024-03-02").startswith(
        "analytics_recompute: 3 day(s) 2024-02-29..2024-03-02, 0 changed in "
    )
    assert {m: sum(s[m] or 0 for s in stored().values()) for m in METRICS} == {
        m: sum(e[m] for e in EXPECTED.values()) for m in METRICS
    }


def test_recompute_defaults_to_first_activity_until_today(user_factory):
    today = timezone.now().astimezone(UTC).date()
    user_factory(username="early", date_joined=timezone.now() - timedelta(days=2))
    assert recompute().startswith(
        f"analytics_recompute: 3 day(s) {today - timedelta(days=2)}..{today}, 3 changed in "
    )
    assert sorted(stored()) == [today - timedelta(days=2), today - timedelta(days=1), today]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "2024-3-1"), "--since: '2024-3-1' is not a date (YYYY-MM-DD)"),
        (("--since", "20240301"), "--since: '20240301' is not a date (YYYY-MM-DD)"),
        (("--until", "yesterday"), "--until: 'yesterday' is not a date (YYYY-MM-DD)"),
        (("--since", "2024-03-02", "--until", "2024-03-01"), "--since 2024-03-02 is after --until 2024-03-01"),
    ],
)
def test_recompute_bad_arguments_fail_and_write_nothing(world, args, message):
    with pytest.raises(CommandError) as excinfo:
        recompute(*args)
    assert str(excinfo.value) == message
    assert DailyStats.objects.count() == 0
