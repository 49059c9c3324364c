"""The staff admin page draws SVG line charts of the last 30 or 90 days."""

import re
from datetime import UTC, date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from analytics.charts import line_charts, period
from analytics.models import METRICS, DailyStats

pytestmark = pytest.mark.django_db

URL = "/admin/analytics/dailystats/"


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_line_charts_scale_each_metric_to_its_own_maximum():
    # given three days with posts 2, (missing), 4
    days = [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
    rows = [DailyStats(day=days[0], posts=2, likes=1), DailyStats(day=days[2], posts=4, likes=1)]
    charts = {chart.key: chart for chart in line_charts(rows, days=days)}
    # then one chart per metric; posts is drawn 44..628 wide, 12..148 high
    assert list(charts) == list(METRICS)
    posts = charts["posts"]
    assert posts.points == "44,80 336,148 628,12"
    assert (posts.maximum, posts.total, posts.latest) == (4, 6, 4)
    assert [dot.value for dot in posts.dots] == [2, None, 4]
    # an all-zero metric lies on the baseline
    assert charts["comments"].points == "44,148 336,148 628,148"


@pytest.mark.parametrize(("query", "days"), [("", 30), ("?days=90", 90), ("?days=7", 30), ("?days=x", 30)])
def test_staff_see_one_svg_chart_per_metric(user_factory, query, days):
    today = timezone.now().astimezone(UTC).date()
    DailyStats.objects.create(day=today, posts=5, active_users=3)
    DailyStats.objects.create(day=today - timedelta(days=1), posts=1)
    response = client_of(user_factory(username="ops", is_staff=True)).get(URL + query)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<polyline") == len(METRICS) == 8
    assert html.count("<circle") == len(METRICS) * days
    assert f"2 of {days} days rolled up" in html
    assert re.search(r'id="chart-posts">\s*<h2>Posts</h2>\s*<p class="bb-facts">latest 5 · total 6 · max 5</p>', html)
    assert f"<title>{today.isoformat()}: 5</title>" in html
    assert f"<title>{(today - timedelta(days=2)).isoformat()}: no data</title>" in html
    assert "<script" not in html.split('id="content-main"')[1]


def test_moderators_see_it_and_nobody_can_edit(user_factory):
    from moderation.services import moderator_add, moderators_group_sync

    moderators_group_sync()
    moderator = user_factory(username="mod")
    moderator_add(user=moderator)
    client = client_of(moderator)
    assert client.get(URL).status_code == 200
    row = DailyStats.objects.create(day=date(2024, 3, 1), posts=1)
    assert client.get(URL + "add/").status_code == 403
    assert client.post(f"{URL}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"{URL}{row.pk}/change/", {"posts": 9}).status_code == 403
    assert DailyStats.objects.get().posts == 1


def test_non_staff_are_sent_to_the_login_page(user_factory):
    response = client_of(user_factory(username="member")).get(URL)
    assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={URL}")


def test_period_is_consecutive_days_ending_today():
    assert period(3, until=date(2024, 3, 1)) == [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
