"""The trend score (pure functions, no database).

Source: Mastodon's hashtag trends (``app/models/trends/tags.rb`` in mastodon/mastodon,
``Trends::Tags#calculate_scores``): per tag, ``observed`` = distinct accounts that used it in
the current period, ``expected`` = distinct accounts in the previous period (1 when 0), and::

    score = (observed - expected) ** 2 / expected    if observed > expected and observed ≥ threshold
          = 0                                        otherwise

(a chi-square-like surprise: how unusual is this many accounts given the baseline?), then the
best score decays with a half-life (``MAX_SCORE_HALFLIFE`` = 2 h, for a 1-day period).

Our adaptation, computed statelessly **as of an explicit reference time** so history can be
replayed (nothing later than the reference hour is read):

- Time is bucketed by UTC hour. ``end`` = ``as_of`` rounded **up** to the hour (``as_of``
  itself when on the hour; with live data, rounding up reads nothing later than now).
- Window ``W`` ∈ {1 h, 24 h, 7 d}: the current period is ``[end − W, end)``; the baseline is
  the ``K`` previous periods of the same length, ``[end − (i+1)·W, end − i·W)`` for
  ``i = 1..K`` with ``K`` = 24 (1 h: the previous day hour by hour), 7 (24 h: the previous
  week day by day), 4 (7 d: the previous four weeks). Mastodon uses one previous day;
  averaging several periods keeps one quiet or busy period from deciding alone.
- ``observed`` = distinct authors of the tag in the current period (exact sets, never a sum of
  per-hour counts); ``expected`` = ``max(1, mean of the K baseline distinct-author counts)``.
- ``surprise = (observed − expected)² / expected`` when ``observed > expected``, else 0.
- Decay: Mastodon decays the best score since it was reached; statelessly we decay from the
  tag's **last use** in the window: ``score = surprise · 0.5 ** (idle / half_life)`` with
  ``idle`` = hours from the end of the tag's last active bucket to ``end`` and
  ``half_life = W / 4`` (15 min, 6 h, 42 h), so a burst that stopped fades within its window.
- A tag trends only with ``observed ≥ MIN_AUTHORS`` (2; Mastodon's default is 5 for a
  federated network): one account can never make a trend, however many posts it writes.
- Ranking: score, then distinct authors, then posts, then name. A merely always-popular tag
  (``observed ≈ expected``) scores 0 and ranks below every surging one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: Window name (API ``?window=``) → period length.
WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
}
#: Window → number of previous periods averaged into the baseline.
BASELINE_PERIODS: dict[str, int] = {"1h": 24, "24h": 7, "7d": 4}
#: Fewest distinct authors in the current period for a tag to trend.
MIN_AUTHORS = 2
#: Bucket size.
BUCKET = timedelta(hours=1)
#: Most trends stored per window (the API's largest ``limit``).
MAX_TRENDS = 100


def bucket_start(moment: datetime) -> datetime:
    """The start (UTC) of the hour bucket containing ``moment``."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def reference_end(as_of: datetime) -> datetime:
    """``as_of`` rounded up to the next UTC hour (itself when already on the hour)."""
    start = bucket_start(as_of)
    return start if start == as_of.astimezone(UTC) else start + BUCKET


@dataclass(frozen=True)
class Periods:
    """The current period ``[current_start, end)`` and the baseline periods (newest first),
    each ``(start, end)``."""

    current_start: datetime
    end: datetime
    baseline: tuple[tuple[datetime, datetime], ...]

    @property
    def baseline_start(self) -> datetime:
        """Start of the oldest baseline period."""
        return self.baseline[-1][0] if self.baseline else self.current_start


def periods(window: str, as_of: datetime) -> Periods:
    """The periods of ``window`` as of ``as_of``.

    Raises:
        KeyError: unknown window.
    """
    length, count = WINDOWS[window], BASELINE_PERIODS[window]
    end = reference_end(as_of)
    return Periods(
        current_start=end - length,
        end=end,
        baseline=tuple((end - (i + 1) * length, end - i * length) for i in range(1, count + 1)),
    )


def half_life_hours(window: str) -> float:
    """Decay half-life of ``window`` in hours: a quarter of the window."""
    return WINDOWS[window].total_seconds() / 3600.0 / 4


def expected_authors(baseline_counts: list[int], periods_count: int) -> float:
    """``max(1, sum(baseline_counts) / periods_count)``: periods without use count as 0."""
    return max(1.0, sum(baseline_counts) / periods_count)


def surprise(observed: int, expected: float) -> float:
    """Mastodon's ``(observed − expected)² / expected`` when ``observed > expected``, else 0."""
    if observed <= expected:
        return 0.0
    return (observed - expected) ** 2 / expected


def trend_score(*, window: str, observed: int, baseline_counts: list[int], idle_hours: float) -> float:
    """The trend score of a tag (module docstring): decayed surprise, 0 below MIN_AUTHORS.

    Args:
        window: ``"1h"``, ``"24h"`` or ``"7d"``.
        observed: distinct authors in the current period.
        baseline_counts: distinct authors in each baseline period that had any (missing = 0).
        idle_hours: hours between the end of the tag's last active bucket and the end.
    Examples:
        ``trend_score(window="24h", observed=10, baseline_counts=[], idle_hours=0) == 81.0``;
        ``trend_score(window="24h", observed=2, baseline_counts=[2]*7, idle_hours=0) == 0.0``.
    """
    if observed < MIN_AUTHORS:
        return 0.0
    expected = expected_authors(baseline_counts, BASELINE_PERIODS[window])
    return surprise(observed, expected) * 0.5 ** (max(0.0, idle_hours) / half_life_hours(window))
