"""Exact trend rankings on a constructed timeline, per window, as of an explicit time."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.trends.helpers import make_post
from trends.models import GlobalTrend
from trends.selectors import trend_scores
from trends.services import global_trends_recompute

pytestmark = pytest.mark.django_db

T = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def timeline(user_factory):
    """As of T:
    - #surge: 10 authors, one post each in the last hour;
    - #steady: 50 posts over the last 7+ days by 2 alternating authors (every 3.5 h);
    - #solo: 20 posts by one author in the last hour;
    - #rising: 4 authors at T-5h..T-2h, plus a 5th author two days earlier.
    """
    users = [user_factory() for _ in range(17)]
    for i in range(10):
        make_post(users[i], ["surge"], T - timedelta(minutes=55 - i))
    for k in range(50):
        make_post(users[10 + k % 2], ["steady"], T - timedelta(hours=0.5 + 3.5 * k))
    for k in range(20):
        make_post(users[12], ["solo"], T - timedelta(minutes=50 - k))
    for i, hours in enumerate((5, 4, 3, 2)):
        make_post(users[13 + i], ["Rising"], T - timedelta(hours=hours))
    make_post(users[0], ["rising"], T - timedelta(days=2))
    return users


def _ranking(window: str) -> list[tuple]:
    return [(s.name, s.score, s.post_count, s.unique_authors) for s in trend_scores(window=window, as_of=T)]


def test_24h_surge_beats_always_popular_and_single_author_never_trends(timeline):
    # then: surge (10 observed, expected 1), rising (4 vs 1, idle 1 h of a 6 h half-life),
    # steady (2 vs 2 → 0, ranked last), solo absent
    assert _ranking("24h") == [
        ("surge", 81.0, 10, 10),
        ("rising", 9 * 0.5 ** (1 / 6), 4, 4),
        ("steady", 0.0, 7, 2),
    ]


def test_1h_window(timeline):
    # then only the last hour counts: steady has one author there, solo one author
    assert _ranking("1h") == [("surge", 81.0, 10, 10)]


def test_7d_window(timeline):
    # then rising has 5 authors this week; steady 2 this week vs 2 in the previous one (mean 0.5 → 1)
    assert _ranking("7d") == [
        ("surge", 81.0, 10, 10),
        ("rising", 16 * 0.5 ** (1 / 42), 5, 5),
        ("steady", 1.0, 48, 2),
    ]


def test_as_of_replays_history(timeline):
    # given a reference time before the surge and the rising posts (T - 6 h)
    earlier = [(s.name, s.unique_authors) for s in trend_scores(window="24h", as_of=T - timedelta(hours=6))]
    # then only steady exists as of then (nothing later than the reference is read)
    assert earlier == [("steady", 2)]


def test_global_trends_recompute_stores_the_ranking(timeline):
    # when recomputed as of T (twice: replaces, never duplicates)
    global_trends_recompute(window="24h", as_of=T)
    global_trends_recompute(window="24h", as_of=T)
    # then the rows are ranked with their counts and reference time
    assert list(
        GlobalTrend.objects.order_by("rank").values_list("window", "rank", "hashtag__name", "post_count", "unique_authors", "as_of")
    ) == [
        ("24h", 1, "surge", 10, 10, T),
        ("24h", 2, "rising", 4, 4, T),
        ("24h", 3, "steady", 7, 2, T),
    ]
