"""The content score formula (pure functions, no database).

Source: Lemmy's ``hot_rank`` — a PostgreSQL function defined in the migrations of
https://github.com/LemmyNet/lemmy and described in Lemmy's docs ("Trending / Hot / Best
sorting algorithm")::

    hot_rank = 10000 * log10(max(1, 3 + score)) / (age_hours + 2) ** 1.8

Lemmy's ``score`` is upvotes − downvotes; ours is :func:`engagement`, which counts
**distinct users**, so one account cannot inflate a post by liking, unliking and commenting
over and over:

    engagement = distinct_engagers + COMMENT_BONUS * commenters

where ``distinct_engagers`` are the users other than the author who liked or commented
(each counted once, however many times and ways they engaged) and ``commenters`` the users
other than the author with at least one live comment (a comment is a stronger signal than a
like, but a user's hundredth comment adds nothing). One user therefore adds at most
``1 + COMMENT_BONUS`` = 1.5 to the engagement. The author's own like or comments add nothing.

The ``log10`` makes the first engagers count most (0 → 6 engagement doubles the rank of a
post, 6 → 78 doubles it again); the ``(age + 2) ** 1.8`` gravity halves the rank of a
post by the time it is 0.94 hours old and decays it polynomially after: ``(26 / 2) ** 1.8 ≈ 101``, so a
day-old post ranks at about 1 % of an equally engaged new one. A deleted or moderated post
scores :data:`REMOVED_SCORE` (0.0).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

#: Weight of a distinct commenter on top of being a distinct engager.
COMMENT_BONUS = 0.5
#: Lemmy's constants: numerator scale, engagement offset, age offset (hours), gravity.
SCALE = 10000.0
ENGAGEMENT_OFFSET = 3.0
AGE_OFFSET_HOURS = 2.0
GRAVITY = 1.8
#: Score of a deleted or moderated (hidden/removed) post.
REMOVED_SCORE = 0.0
#: Posts younger than this are rescored by the periodic recompute; older scores are frozen
#: (a 7-day-old post with 1,000 engagers scores ≈ 3.8: the decay has done its work).
DECAY_WINDOW = timedelta(days=7)
#: ``content_score.updated`` is published when ``|new − previous| / previous`` exceeds this
#: (or when a positive score drops to 0 / a zero score becomes positive).
CHANGE_THRESHOLD = 0.10


def engagement(*, distinct_engagers: int, commenters: int) -> float:
    """Return the engagement of a post: ``distinct_engagers + COMMENT_BONUS * commenters``.

    Args:
        distinct_engagers: users other than the author who liked or commented (≥ 0).
        commenters: users other than the author with a live comment (≤ distinct_engagers).
    """
    return distinct_engagers + COMMENT_BONUS * commenters


def age_hours(created_at: datetime, now: datetime) -> float:
    """Age of a post in hours at ``now``; never negative (clock skew counts as 0)."""
    return max(0.0, (now - created_at).total_seconds() / 3600.0)


def hot_rank(*, engagement: float, age_hours: float) -> float:
    """Lemmy's hot rank: ``10000 * log10(max(1, 3 + engagement)) / (age_hours + 2) ** 1.8``.

    Examples: ``hot_rank(engagement=0, age_hours=0) == 10000*log10(3)/2**1.8 ≈ 1370.17``;
    ``hot_rank(engagement=7, age_hours=0) == 10000/2**1.8 ≈ 2871.75``.
    """
    return SCALE * math.log10(max(1.0, ENGAGEMENT_OFFSET + engagement)) / (
        (age_hours + AGE_OFFSET_HOURS) ** GRAVITY
    )


def score_changed_enough(previous: float | None, new: float) -> bool:
    """True when a change from ``previous`` to ``new`` should publish ``content_score.updated``.

    ``None`` (first computation) never publishes: ``post.created`` already told everyone.
    Otherwise the relative change must exceed :data:`CHANGE_THRESHOLD` (10 %); from 0.0 any
    positive score counts as a change, and 0.0 → 0.0 does not.
    """
    if previous is None:
        return False
    if previous == 0.0:
        return new != 0.0
    return abs(new - previous) / previous > CHANGE_THRESHOLD
