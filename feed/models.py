"""Models of the ``feed`` domain: the scoring worker's :class:`ContentScore`.

The home-feed ranking reads ``ContentScore.score`` through ``posts.selectors.annotate_score``
(``F("content_score__score")``); the scoring worker (:mod:`feed.tasks`) writes it.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ContentScore(models.Model):
    """A post's relevance score and the components it was computed from.

    One row per post (the post is the primary key). Written only by :mod:`feed.services`
    (event tasks, the periodic recompute, ``manage.py feed_backfill_scores``); the formula is
    :func:`feed.scoring.hot_rank`. A deleted or moderated (hidden/removed) post keeps its row
    with ``score = 0.0`` so feeds rank it last and a reversal of moderation restores it.

    Fields:
        score: the hot rank (float ≥ 0; 0.0 for deleted or moderated posts).
        likes: live likes of the post (including the author's own like).
        comments: live (not deleted) comments of the post.
        commenters: distinct users other than the author with a live comment.
        distinct_engagers: distinct users other than the author who liked or commented.
        age_hours: the post's age when the score was computed.
        computed_at: when the score was computed (the reference time of ``age_hours``).
    """

    post = models.OneToOneField(
        "posts.Post", on_delete=models.CASCADE, primary_key=True, related_name="content_score"
    )
    score = models.FloatField(default=0.0)
    likes = models.PositiveIntegerField(default=0)
    comments = models.PositiveIntegerField(default=0)
    commenters = models.PositiveIntegerField(default=0)
    distinct_engagers = models.PositiveIntegerField(default=0)
    age_hours = models.FloatField(default=0.0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The periodic recompute picks the stalest rows first.
            models.Index(fields=["computed_at"], name="feed_contentscore_computed"),
            models.Index(fields=["-score"], name="feed_contentscore_score"),
        ]

    def __str__(self) -> str:
        return f"Score {self.score:.2f} of post {self.post_id}"
