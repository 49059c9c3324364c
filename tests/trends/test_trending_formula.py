"""trends.trending: periods as of a reference time, and the score (exact values)."""

from datetime import UTC, datetime, timedelta

import pytest

from trends import trending

T = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


def test_reference_end_rounds_up_to_the_hour():
    assert trending.reference_end(T) == T
    assert trending.reference_end(T + timedelta(minutes=1)) == T + timedelta(hours=1)
    assert trending.reference_end(T - timedelta(microseconds=1)) == T


def test_periods_of_each_window():
    # given as_of T / then the current period ends at T and K equal periods precede it
    day = trending.periods("24h", T)
    assert (day.current_start, day.end) == (T - timedelta(days=1), T)
    assert day.baseline[0] == (T - timedelta(days=2), T - timedelta(days=1))
    assert len(day.baseline) == 7 and day.baseline_start == T - timedelta(days=8)
    hour = trending.periods("1h", T)
    assert (len(hour.baseline), hour.baseline_start) == (24, T - timedelta(hours=25))
    week = trending.periods("7d", T)
    assert (len(week.baseline), week.baseline_start) == (4, T - timedelta(days=35))
    with pytest.raises(KeyError):
        trending.periods("2h", T)


@pytest.mark.parametrize(
    ("window", "observed", "baseline", "idle", "expected"),
    [
        ("24h", 10, [], 0, 81.0),  # (10 - 1)^2 / 1: nothing before
        ("24h", 2, [2] * 7, 0, 0.0),  # always popular: observed == expected
        ("24h", 1, [], 0, 0.0),  # a single author never trends
        ("24h", 6, [4, 2, 1], 0, (6 - 1) ** 2 / 1),  # expected = max(1, 7/7)
        ("24h", 15, [7] * 7, 0, (15 - 7) ** 2 / 7),
        ("24h", 10, [], 6, 81.0 / 2),  # idle for one half-life (6 h)
        ("1h", 5, [1] * 24, 0, 16.0),
        ("7d", 5, [8, 0, 0, 0], 42, (5 - 2) ** 2 / 2 / 2),
    ],
)
def test_trend_score_exact(window, observed, baseline, idle, expected):
    assert trending.trend_score(window=window, observed=observed, baseline_counts=baseline, idle_hours=idle) == expected
