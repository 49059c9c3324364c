"""Reads of the ``trends`` domain: the trend computation's inputs, stored trends, hashtag pages.

:func:`trend_scores` computes (without writing) the trends of a window as of a reference time
from the hour buckets, in a constant number of aggregate queries (see :mod:`trends.trending`
for the formula). :func:`hashtag_posts` goes through ``posts.selectors.visible_posts``, the
one place for visibility.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Count, F, IntegerField, Max, QuerySet, Subquery, Sum, Value, When
from django.utils import timezone

from posts import selectors as post_selectors
from posts.models import Hashtag, Post
from posts.parsing import extract_hashtags, normalize_hashtag
from trends import trending
from trends.models import GlobalTrend, HashtagAuthorBucket, HashtagBucket


@dataclass(frozen=True)
class TrendScore:
    """One hashtag's trend in a window: ``{hashtag_id, name, score, post_count,
    unique_authors}`` (``unique_authors`` is the ``observed`` of the formula)."""

    hashtag_id: int
    name: str
    score: float
    post_count: int
    unique_authors: int

    def sort_key(self) -> tuple:
        """Ranking order: score, distinct authors, posts (all descending), then name."""
        return (-self.score, -self.unique_authors, -self.post_count, self.name)


def trend_scores(*, window: str, as_of: datetime | None = None) -> list[TrendScore]:
    """Compute the ranked trends of ``window`` as of ``as_of`` from the hour buckets.

    Only hashtags with at least :data:`trends.trending.MIN_AUTHORS` distinct authors in the
    current period are returned, best first (:meth:`TrendScore.sort_key`). Four queries,
    whatever the number of hashtags: current distinct authors (with last active bucket),
    current post counts, baseline distinct authors per period (one ``CASE``-bucketed
    aggregate), hashtag names.

    Args:
        window: ``"1h"``, ``"24h"`` or ``"7d"``.
        as_of: the reference time (default now); nothing after its hour is read.
    Raises:
        KeyError: unknown window.
    """
    as_of = as_of or timezone.now()
    spans = trending.periods(window, as_of)
    current = {
        row["hashtag_id"]: row
        for row in HashtagAuthorBucket.objects.filter(
            bucket_start__gte=spans.current_start, bucket_start__lt=spans.end
        )
        .values("hashtag_id")
        .annotate(authors=Count("author_id", distinct=True), last_bucket=Max("bucket_start"))
        .filter(authors__gte=trending.MIN_AUTHORS)
        .order_by()
    }
    if not current:
        return []
    posts = dict(
        HashtagBucket.objects.filter(
            hashtag_id__in=list(current), bucket_start__gte=spans.current_start, bucket_start__lt=spans.end
        )
        .values("hashtag_id")
        .annotate(uses=Sum("uses"))
        .order_by()
        .values_list("hashtag_id", "uses")
    )
    period = Case(
        *[
            When(bucket_start__gte=start, bucket_start__lt=end, then=Value(index))
            for index, (start, end) in enumerate(spans.baseline, start=1)
        ],
        output_field=IntegerField(),
    )
    baseline: dict[int, list[int]] = defaultdict(list)
    for hashtag_id, _period, authors in (
        HashtagAuthorBucket.objects.filter(
            hashtag_id__in=list(current), bucket_start__gte=spans.baseline_start, bucket_start__lt=spans.current_start
        )
        .annotate(period=period)
        .values("hashtag_id", "period")
        .annotate(authors=Count("author_id", distinct=True))
        .order_by()
        .values_list("hashtag_id", "period", "authors")
    ):
        baseline[hashtag_id].append(authors)
    names = dict(Hashtag.objects.filter(pk__in=list(current)).values_list("pk", "name"))
    scores = []
    for hashtag_id, row in current.items():
        idle = (spans.end - (row["last_bucket"] + trending.BUCKET)).total_seconds() / 3600.0
        scores.append(
            TrendScore(
                hashtag_id=hashtag_id,
                name=names[hashtag_id],
                score=trending.trend_score(
                    window=window,
                    observed=row["authors"],
                    baseline_counts=baseline.get(hashtag_id, []),
                    idle_hours=idle,
                ),
                post_count=posts.get(hashtag_id, 0),
                unique_authors=row["authors"],
            )
        )
    return sorted(scores, key=TrendScore.sort_key)


def global_trends(*, window: str, limit: int) -> QuerySet[GlobalTrend]:
    """The stored trends of ``window``, best first (``rank``), at most ``limit``, with the
    hashtag joined (one query)."""
    return GlobalTrend.objects.filter(window=window).select_related("hashtag").order_by("rank")[:limit]


def parse_tag(raw: str) -> str | None:
    """The normalised hashtag name of a URL ``{tag}`` (with or without a leading ``#``), or
    ``None`` when it is not exactly one valid hashtag under posts' parser rules (e.g. ``123``,
    ``a b``, empty): ``parse_tag("#Café") == parse_tag("cafe\\u0301") == "café"``."""
    text = raw[1:] if raw.startswith("#") else raw
    if not text:
        return None
    name = normalize_hashtag(text)
    return name if extract_hashtags(f"#{text}") == [name] else None


def hashtag_posts(viewer, name: str) -> QuerySet[Post]:
    """The posts ``viewer`` may see that use hashtag ``name`` (already normalised), newest
    first, prepared for ``PostSerializer``.

    Ordered by the link's copy of the post's time and id (annotations ``tag_created_at``,
    ``tag_post_id``, equal to the post's ``created_at`` and ``id``), with the hashtag's id
    as a scalar subquery: PostgreSQL walks index ``posts_posthashtag_listing`` from the
    cursor and stops after the page (keyset pagination ordering ``HASHTAG_POSTS_ORDERING``).
    """
    tag_id = Subquery(Hashtag.objects.filter(name=name).values("id")[:1])
    return (
        # The view attaches the links to the page it shows (attach_post_links).
        post_selectors.with_post_details(post_selectors.visible_posts(viewer, details=False), viewer, links=False)
        .filter(post_hashtags__hashtag_id=tag_id)
        .annotate(tag_created_at=F("post_hashtags__created_at"), tag_post_id=F("post_hashtags__post_id"))
        .order_by("-tag_created_at", "-tag_post_id")
    )


#: Keyset ordering of :func:`hashtag_posts` (its annotations).
HASHTAG_POSTS_ORDERING = ("-tag_created_at", "-tag_post_id")