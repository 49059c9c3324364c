"""Models of the ``trends`` domain: hashtag activity per hour and the computed GlobalTrends.

Three layers, all rebuildable from posts (``manage.py trends_recompute --rebuild``):

- :class:`TrendContribution` — the ledger: one row per (post, hashtag) that currently counts.
  It is what makes removal exact and idempotent: a post's contribution is removed only if
  it is in the ledger, so ``post.deleted`` then ``post.moderated`` remove it once.
- :class:`HashtagBucket` / :class:`HashtagAuthorBucket` — per hashtag per hour (UTC, the hour
  of the post's ``created_at``): the number of posts using it and the exact set of distinct
  authors, derived from the ledger for the buckets a change touches.
- :class:`GlobalTrend` — the ranked trends per window, rebuilt by
  :func:`trends.services.global_trends_recompute` as of an explicit reference time.

Only public, visible (not moderated), not deleted posts count: trends are global, so a
friends-only or private post must not leak into them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Window(models.TextChoices):
    """Trend windows (API ``?window=``)."""

    HOUR = "1h", "1 hour"
    DAY = "24h", "24 hours"
    WEEK = "7d", "7 days"


class TrendContribution(models.Model):
    """Post ``post`` (by ``author_id``, in hour ``bucket_start``) currently counts for ``hashtag``.

    ``post`` has no database constraint and is not cascaded, so that a hard-deleted post
    still leaves its ledger rows for :func:`trends.services.post_trend_sync` to remove.
    """

    post = models.ForeignKey(
        "posts.Post", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    hashtag = models.ForeignKey("posts.Hashtag", on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    bucket_start = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "hashtag"], name="trends_contribution_unique"),
        ]
        indexes = [
            models.Index(fields=["hashtag", "bucket_start"], name="trends_contrib_tag_bucket"),
        ]


class HashtagBucket(models.Model):
    """Activity of ``hashtag`` in the hour starting at ``bucket_start`` (UTC).

    Fields:
        uses: posts that used the hashtag in that hour.
        authors: distinct authors of those posts (= its :class:`HashtagAuthorBucket` rows).
    """

    hashtag = models.ForeignKey("posts.Hashtag", on_delete=models.CASCADE, related_name="+")
    bucket_start = models.DateTimeField()
    uses = models.PositiveIntegerField(default=0)
    authors = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hashtag", "bucket_start"], name="trends_bucket_unique"),
        ]
        indexes = [models.Index(fields=["bucket_start"], name="trends_bucket_start")]

    def __str__(self) -> str:
        return f"#{self.hashtag_id} @ {self.bucket_start:%Y-%m-%d %H}h: {self.uses} uses, {self.authors} authors"


class HashtagAuthorBucket(models.Model):
    """``author`` used ``hashtag`` in the hour starting at ``bucket_start``: the exact sets
    from which distinct-author counts over any window are computed."""

    hashtag = models.ForeignKey("posts.Hashtag", on_delete=models.CASCADE, related_name="+")
    bucket_start = models.DateTimeField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hashtag", "bucket_start", "author"], name="trends_author_bucket_unique"
            ),
        ]
        indexes = [models.Index(fields=["bucket_start"], name="trends_author_bucket_start")]


class GlobalTrend(models.Model):
    """A trending hashtag in ``window``, as computed ``as_of`` (see :mod:`trends.trending`).

    Fields:
        rank: 1 = the top trend of the window.
        score: the trend score (≥ 0; higher is more surprising).
        post_count: posts using the hashtag in the window.
        unique_authors: distinct authors of those posts (≥ 2: one account never trends).
        as_of: the reference time of the computation; computed_at: when it ran.
    """

    hashtag = models.ForeignKey("posts.Hashtag", on_delete=models.CASCADE, related_name="+")
    window = models.CharField(max_length=3, choices=Window.choices)
    rank = models.PositiveIntegerField()
    score = models.FloatField()
    post_count = models.PositiveIntegerField()
    unique_authors = models.PositiveIntegerField()
    as_of = models.DateTimeField()
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["window", "hashtag"], name="trends_globaltrend_unique"),
            models.UniqueConstraint(fields=["window", "rank"], name="trends_globaltrend_rank"),
            models.CheckConstraint(
                condition=models.Q(window__in=["1h", "24h", "7d"]), name="trends_globaltrend_window_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.window} #{self.rank}: {self.hashtag_id} ({self.score:.2f})"
