"""feed.scoring: the hot-rank formula, engagement and the publishing threshold (exact values)."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from feed import scoring


def test_hot_rank_exact_values():
    # given Lemmy's formula 10000 * log10(max(1, 3 + e)) / (age + 2) ** 1.8
    # then a brand-new post without engagement, one with 7, and a day-old one score exactly
    assert scoring.hot_rank(engagement=0, age_hours=0) == 10000 * math.log10(3) / 2**1.8
    assert scoring.hot_rank(engagement=7, age_hours=0) == 10000 / 2**1.8
    assert scoring.hot_rank(engagement=7, age_hours=24) == 10000 / 26**1.8
    assert round(scoring.hot_rank(engagement=0, age_hours=0), 6) == 1370.171001
    assert round(scoring.hot_rank(engagement=7, age_hours=24), 6) == 28.382325


def test_engagement_counts_users_with_a_comment_bonus():
    # given 4 distinct engagers of whom 2 commented / then engagement = 4 + 0.5 * 2
    assert scoring.engagement(distinct_engagers=4, commenters=2) == 5.0
    assert scoring.engagement(distinct_engagers=0, commenters=0) == 0.0


def test_more_engagement_ranks_higher_and_age_decays():
    # given equal ages, more engagers rank higher; given equal engagement, older ranks lower
    assert scoring.hot_rank(engagement=2, age_hours=3) > scoring.hot_rank(engagement=1, age_hours=3)
    assert scoring.hot_rank(engagement=5, age_hours=1) > scoring.hot_rank(engagement=5, age_hours=2)


def test_age_hours_never_negative():
    now = datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert scoring.age_hours(now - timedelta(minutes=90), now) == 1.5
    assert scoring.age_hours(now + timedelta(minutes=5), now) == 0.0


@pytest.mark.parametrize(
    ("previous", "new", "expected"),
    [
        (None, 100.0, False),  # first score: post.created already announced the post
        (100.0, 110.0, False),  # exactly 10 %: not more than the threshold
        (100.0, 110.5, True),
        (100.0, 89.0, True),
        (100.0, 95.0, False),
        (100.0, 0.0, True),  # deleted / moderated
        (0.0, 0.0, False),
        (0.0, 5.0, True),  # restored
    ],
)
def test_score_changed_enough(previous, new, expected):
    assert scoring.score_changed_enough(previous, new) is expected
