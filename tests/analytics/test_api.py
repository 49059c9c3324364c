"""GET /api/analytics/daily: staff only, exact day objects, validated ranges."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from analytics.models import DailyStats
from analytics.services import analytics_recompute, analytics_rollup
from tests.analytics.conftest import DAY0, DAY1, DAY2, EXPECTED

pytestmark = pytest.mark.django_db

URL = "/api/analytics/daily"


@pytest.fixture
def staff(user_factory):
    return user_factory(username="ops", is_staff=True)


def test_staff_get_exact_day_objects_oldest_first(world, staff, client_for):
    # given the three constructed days rolled up
    analytics_recompute(since=DAY0, until=DAY2)
    computed = dict(DailyStats.objects.values_list("day", "computed_at"))
    # when asking for day 1 and day 2
    response = client_for(staff).get(f"{URL}?since=2024-03-01&until=2024-03-02")
    # then exactly those two, oldest first
    assert response.status_code == 200
    assert response.json() == [
        {"day": day.isoformat(), **EXPECTED[day], "computed_at": computed[day].isoformat().replace("+00:00", "Z")}
        for day in (DAY1, DAY2)
    ]


def test_days_not_rolled_up_are_absent(world, staff, client_for):
    analytics_rollup(day=DAY2)
    response = client_for(staff).get(f"{URL}?since=2024-02-29&until=2024-03-02")
    assert [d["day"] for d in response.json()] == ["2024-03-02"]


def test_defaults_are_the_last_30_days(staff, client_for):
    today = timezone.now().astimezone(UTC).date()
    for offset in (0, 29, 30):
        DailyStats.objects.create(day=today - timedelta(days=offset))
    response = client_for(staff).get(URL)
    assert [d["day"] for d in response.json()] == [(today - timedelta(days=29)).isoformat(), today.isoformat()]


def test_a_366_day_range_is_allowed(staff, client_for):
    assert client_for(staff).get(f"{URL}?since=2024-01-01&until=2024-12-31").status_code == 200


def test_anonymous_is_401_and_members_403(api_client, user_factory, client_for):
    assert api_client.get(URL).status_code == 401
    response = client_for(user_factory(username="member")).get(URL)
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_moderators_are_staff_and_may_read(user_factory, client_for):
    from moderation.services import moderator_add, moderators_group_sync

    moderators_group_sync()
    moderator = user_factory(username="mod")
    moderator_add(user=moderator)
    assert client_for(moderator).get(URL).status_code == 200


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("since=2024-13-01", {"since": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
        ("until=03/01/2024", {"until": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
        ("since=yesterday", {"since": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
        ("since=2024-03-02&until=2024-03-01", {"since": ["since must not be after until."]}),
        ("since=2024-01-01&until=2025-01-01", {"since": ["The range is longer than 366 days."]}),
    ],
)
def test_bad_ranges_are_400(staff, client_for, query, body):
    response = client_for(staff).get(f"{URL}?{query}")
    assert (response.status_code, response.json()) == (400, body)
    assert DailyStats.objects.count() == 0
