"""The demo report's trend section shows only what trends (issue 22, item 11).

``trends.selectors.trend_scores`` stores every hashtag used by at least ``MIN_AUTHORS``
distinct authors, ranked, with score 0 for one that is no more used than on average in the
previous periods (an always-popular tag). Such a tag is not trending: the report lists only
scores above 0 and counts the others apart, and never prints a positive score as 0.000.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from demo import report
from tests.trends.helpers import make_post
from trends.services import global_trends_recompute_all

T = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


def trend_block(text: str) -> list[str]:
    """The lines of the report between the trends heading and the sample user."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("top 10 trending hashtags"))
    end = next(i for i, line in enumerate(lines) if line.startswith("sample user:"))
    return lines[start:end]


@pytest.mark.django_db
def test_a_score_zero_hashtag_is_not_listed_as_trending_but_counted_apart(user_factory):
    # given, as of T: #surge (10 authors in the last hour, none before), #rising (4 authors
    # 5..2 h ago, a 5th two days ago), #steady (2 alternating authors every 3.5 h for a week:
    # as many authors in the last 24 h as on average in each of the 7 days before → 24h score 0)
    users = [user_factory() for _ in range(17)]
    for i in range(10):
        make_post(users[i], ["surge"], T - timedelta(minutes=55 - i))
    for k in range(50):
        make_post(users[10 + k % 2], ["steady"], T - timedelta(hours=0.5 + 3.5 * k))
    for i, hours in enumerate((5, 4, 3, 2)):
        make_post(users[13 + i], ["rising"], T - timedelta(hours=hours))
    make_post(users[0], ["rising"], T - timedelta(days=2))
    # and the GlobalTrends as of T (steady is stored in the 24h window, ranked last, score 0)
    assert global_trends_recompute_all(as_of=T) == {"1h": 1, "24h": 3, "7d": 3}

    # when the report is collected and rendered
    collected = report.collect(mode="test", scope="test", trends_as_of=T, sample_username=None, stages=[])
    text = report.render(collected)

    # then the 24h list holds the two trending hashtags, and steady only in the count apart
    assert trend_block(text) == [
        "top 10 trending hashtags as of the newest imported post (2024-05-10T12:00:00+00:00):",
        "  1h:",
        "     1. #surge                        score   81.000  posts   10  authors   10",
        "  24h:",
        "     1. #surge                        score   81.000  posts   10  authors   10",
        f"     2. #rising                       score    {9 * 0.5 ** (1 / 6):.3f}  posts    4  authors    4",
        "    (not trending: 1 more hashtag used by 2 or more distinct authors, but not by more than on average"
        " in the previous periods: score 0)",
        "  7d:",
        "     1. #surge                        score   81.000  posts   10  authors   10",
        f"     2. #rising                       score   {16 * 0.5 ** (1 / 42):.3f}  posts    5  authors    5",
        "     3. #steady                       score    1.000  posts   48  authors    2",
        "",
    ]
    assert " 0.000 " not in text
    assert collected.flat_trends == {"1h": 0, "24h": 1, "7d": 0}
    assert [(rank, name) for rank, name, *_ in collected.trends["24h"]] == [(1, "surge"), (2, "rising")]


def _report(trends: dict, flat: dict) -> report.Report:
    return report.Report(mode="test", scope="test", backends={"graph": "OrmGraphStore"}, counts={}, graph_store={},
                         events={}, trends_as_of=T, trends=trends, flat_trends=flat)


def test_a_window_with_only_score_zero_hashtags_says_none_trending_and_tiny_scores_stay_visible():
    # given: 1h with nothing stored, 24h with two score-0 hashtags only, 7d with a decayed score
    rendered = report.render(_report(
        {"1h": [], "24h": [], "7d": [(1, "faded", 0.0004, 3, 2)]},
        {"1h": 0, "24h": 2, "7d": 0},
    ))

    # then each window says what its emptiness means, and 0.0004 is not printed as 0.000
    assert trend_block(rendered)[1:] == [
        "  1h:",
        "    (none: no hashtag used by 2 or more distinct authors in this window)",
        "  24h:",
        "    (none trending: 2 hashtags used by 2 or more distinct authors, but not by more than on average"
        " in the previous periods: score 0)",
        "  7d:",
        "     1. #faded                        score  4.0e-04  posts    3  authors    2",
        "",
    ]
