"""Writes of the ``trends`` domain: hashtag buckets (the trending worker) and GlobalTrends.

- :func:`post_trend_sync` makes a post's contribution match its current state: a public,
  visible, live post counts once for each of its hashtags in the hour of its ``created_at``;
  anything else counts for nothing. It is called on ``post.created``, ``post.updated``,
  ``post.deleted`` and ``post.moderated``, and is idempotent by construction (it diffs the
  desired contribution against the :class:`~trends.models.TrendContribution` ledger), so a
  repeated or reordered event changes nothing.
- :func:`trend_buckets_rebuild` rebuilds all three bucket tables from posts in bulk.
- :func:`global_trends_recompute` stores the ranked trends of a window as of a reference time.

Nothing here publishes events: trends are a read model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from django.db import transaction
from django.db.models import Count
from django.db.models.functions import Trunc
from django.utils import timezone

from posts.models import Post, PostHashtag
from trends import trending
from trends.models import GlobalTrend, HashtagAuthorBucket, HashtagBucket, TrendContribution
from trends.selectors import trend_scores

#: Rows per ``bulk_create`` in the rebuild.
REBUILD_CHUNK = 5000


@dataclass(frozen=True)
class SyncResult:
    """Outcome of :func:`post_trend_sync`: hashtag contributions added and removed."""

    added: int
    removed: int


def _counts(post: dict | None) -> bool:
    """True when a post (``values()`` dict or ``None`` if missing) contributes to trends: live,
    visible, public, by an active account (README "Account lifecycle")."""
    return bool(
        post
        and post["author__is_active"]
        and post["deleted_at"] is None
        and post["moderation_state"] == Post.ModerationState.VISIBLE
        and post["visibility"] == Post.Visibility.PUBLIC
    )


def _refresh_buckets(pairs: Iterable[tuple[int, datetime]]) -> None:
    """Recount the buckets ``(hashtag_id, bucket_start)`` from the ledger.

    Each bucket row is created if missing and locked (``SELECT … FOR UPDATE``, in sorted
    order so concurrent syncs cannot deadlock) before it is recounted, so two workers adding
    to one bucket serialise and the second counts the first's committed ledger rows.
    """
    for hashtag_id, start in sorted(set(pairs)):
        HashtagBucket.objects.bulk_create(
            [HashtagBucket(hashtag_id=hashtag_id, bucket_start=start)], ignore_conflicts=True
        )
        bucket = HashtagBucket.objects.select_for_update().get(hashtag_id=hashtag_id, bucket_start=start)
        ledger = TrendContribution.objects.filter(hashtag_id=hashtag_id, bucket_start=start)
        uses = ledger.count()
        authors = set(ledger.values_list("author_id", flat=True))
        author_rows = HashtagAuthorBucket.objects.filter(hashtag_id=hashtag_id, bucket_start=start)
        if not uses:
            author_rows.delete()
            bucket.delete()
            continue
        author_rows.exclude(author_id__in=authors).delete()
        HashtagAuthorBucket.objects.bulk_create(
            [HashtagAuthorBucket(hashtag_id=hashtag_id, bucket_start=start, author_id=a) for a in authors],
            ignore_conflicts=True,
        )
        bucket.uses, bucket.authors = uses, len(authors)
        bucket.save(update_fields=["uses", "authors"])


def post_trend_sync(*, post_id: int) -> SyncResult:
    """Make post ``post_id``'s hashtag contributions match its current state (idempotent).

    The post row is locked for the transaction so two syncs of one post serialise. A missing
    (hard-deleted), soft-deleted, moderated or non-public post has its contributions removed;
    a public visible post gets one per linked hashtag, in the UTC hour of its ``created_at``.

    Returns:
        :class:`SyncResult` — ``SyncResult(0, 0)`` when nothing changed (e.g. a repeated event).
    Events:
        None.
    """
    with transaction.atomic():
        post = (
            Post.objects.select_for_update()
            .filter(pk=post_id)
            .values("author_id", "author__is_active", "created_at", "deleted_at", "moderation_state", "visibility")
            .first()
        )
        desired: set[int] = set()
        if _counts(post):
            desired = set(PostHashtag.objects.filter(post_id=post_id).values_list("hashtag_id", flat=True))
        existing = dict(
            TrendContribution.objects.filter(post_id=post_id).values_list("hashtag_id", "bucket_start")
        )
        removed = set(existing) - desired
        added = desired - set(existing)
        if not removed and not added:
            return SyncResult(added=0, removed=0)
        if removed:
            TrendContribution.objects.filter(post_id=post_id, hashtag_id__in=removed).delete()
        start = trending.bucket_start(post["created_at"]) if added else None
        TrendContribution.objects.bulk_create(
            [
                TrendContribution(post_id=post_id, hashtag_id=h, author_id=post["author_id"], bucket_start=start)
                for h in added
            ],
            ignore_conflicts=True,
        )
        _refresh_buckets([(h, existing[h]) for h in removed] + [(h, start) for h in added])
    return SyncResult(added=len(added), removed=len(removed))


def authors_trend_sync(*, author_ids: Iterable[int]) -> SyncResult:
    """Make every contribution of the posts of ``author_ids`` match their current state, in
    bulk (``user.deactivated``, ``user.reactivated``, ``user.deleted``): an inactive or erased
    author counts for nothing, an active one counts once per hashtag of each public, visible,
    live post. Works from the ledger, so it is exact whether or not the author's posts still
    exist, and idempotent.

    Returns:
        :class:`SyncResult` of the contributions added and removed over all authors.
    Events:
        None.
    """
    added = removed = 0
    for author_id in sorted({int(a) for a in author_ids}):
        with transaction.atomic():
            desired = {
                (post_id, hashtag_id): trending.bucket_start(created_at)
                for post_id, hashtag_id, created_at in PostHashtag.objects.filter(
                    post__author_id=author_id,
                    post__author__is_active=True,
                    post__deleted_at__isnull=True,
                    post__moderation_state=Post.ModerationState.VISIBLE,
                    post__visibility=Post.Visibility.PUBLIC,
                ).values_list("post_id", "hashtag_id", "post__created_at")
            }
            existing = {
                (post_id, hashtag_id): start
                for post_id, hashtag_id, start in TrendContribution.objects.filter(author_id=author_id)
                .values_list("post_id", "hashtag_id", "bucket_start")
            }
            gone = set(existing) - set(desired)
            new = set(desired) - set(existing)
            if not gone and not new:
                continue
            # Whole posts (the usual case: the author left) in one statement per chunk; a post
            # that keeps some hashtags loses the others one by one.
            kept_posts = {post_id for post_id, _ in desired}
            whole = sorted({post_id for post_id, _ in gone} - kept_posts)
            for start in range(0, len(whole), REBUILD_CHUNK):
                TrendContribution.objects.filter(post_id__in=whole[start:start + REBUILD_CHUNK]).delete()
            for post_id, hashtag_id in gone:
                if post_id in kept_posts:
                    TrendContribution.objects.filter(post_id=post_id, hashtag_id=hashtag_id).delete()
            TrendContribution.objects.bulk_create(
                [TrendContribution(post_id=p, hashtag_id=h, author_id=author_id, bucket_start=desired[(p, h)])
                 for p, h in new],
                ignore_conflicts=True, batch_size=REBUILD_CHUNK,
            )
            _refresh_buckets([(h, existing[(p, h)]) for p, h in gone] + [(h, desired[(p, h)]) for p, h in new])
            added, removed = added + len(new), removed + len(gone)
    return SyncResult(added=added, removed=removed)


@dataclass(frozen=True)
class RebuildResult:
    """Rows written by :func:`trend_buckets_rebuild`."""

    contributions: int
    buckets: int
    author_buckets: int


def _chunks(iterable: Iterable, size: int):
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def trend_buckets_rebuild(*, on_progress: Callable[[int], None] | None = None) -> RebuildResult:
    """Rebuild the ledger and both bucket tables from posts, in one transaction.

    Reads every hashtag link of public, visible, live posts (streamed), writes the ledger in
    chunks of :data:`REBUILD_CHUNK` rows, then the buckets and author buckets from two
    aggregate queries over the ledger. Readers see the old buckets until it commits.

    Args:
        on_progress: called with the number of ledger rows of each chunk (a progress bar).
    Returns:
        :class:`RebuildResult`.
    Events:
        None.
    """
    with transaction.atomic():
        HashtagAuthorBucket.objects.all().delete()
        HashtagBucket.objects.all().delete()
        TrendContribution.objects.all().delete()
        links = (
            PostHashtag.objects.filter(
                post__author__is_active=True,
                post__deleted_at__isnull=True,
                post__moderation_state=Post.ModerationState.VISIBLE,
                post__visibility=Post.Visibility.PUBLIC,
            )
            .annotate(bucket=Trunc("post__created_at", "hour", tzinfo=UTC))
            .order_by("id")
            .values_list("post_id", "hashtag_id", "post__author_id", "bucket")
            .iterator(chunk_size=REBUILD_CHUNK)
        )
        contributions = 0
        for chunk in _chunks(links, REBUILD_CHUNK):
            TrendContribution.objects.bulk_create(
                [
                    TrendContribution(post_id=p, hashtag_id=h, author_id=a, bucket_start=b)
                    for p, h, a, b in chunk
                ]
            )
            contributions += len(chunk)
            if on_progress:
                on_progress(len(chunk))
        buckets = 0
        for chunk in _chunks(
            TrendContribution.objects.values("hashtag_id", "bucket_start")
            .annotate(uses=Count("id"), authors=Count("author_id", distinct=True))
            .order_by()
            .values_list("hashtag_id", "bucket_start", "uses", "authors")
            .iterator(chunk_size=REBUILD_CHUNK),
            REBUILD_CHUNK,
        ):
            HashtagBucket.objects.bulk_create(
                [HashtagBucket(hashtag_id=h, bucket_start=b, uses=u, authors=n) for h, b, u, n in chunk]
            )
            buckets += len(chunk)
        author_buckets = 0
        for chunk in _chunks(
            TrendContribution.objects.values_list("hashtag_id", "bucket_start", "author_id")
            .distinct()
            .order_by()
            .iterator(chunk_size=REBUILD_CHUNK),
            REBUILD_CHUNK,
        ):
            HashtagAuthorBucket.objects.bulk_create(
                [HashtagAuthorBucket(hashtag_id=h, bucket_start=b, author_id=a) for h, b, a in chunk]
            )
            author_buckets += len(chunk)
    return RebuildResult(contributions=contributions, buckets=buckets, author_buckets=author_buckets)


def global_trends_recompute(*, window: str, as_of: datetime | None = None) -> list[GlobalTrend]:
    """Replace the stored trends of ``window`` by those computed as of ``as_of``.

    Keeps the best :data:`trends.trending.MAX_TRENDS` (100) of
    :func:`trends.selectors.trend_scores`, ranked from 1, in one transaction (readers see
    the old or the new list, never a mix).

    Args:
        window: ``"1h"``, ``"24h"`` or ``"7d"``.
        as_of: the reference time (default now).
    Returns:
        The stored rows, best first.
    Raises:
        KeyError: unknown window.
    Events:
        None.
    """
    as_of = as_of or timezone.now()
    scores = trend_scores(window=window, as_of=as_of)[: trending.MAX_TRENDS]
    now = timezone.now()
    rows = [
        GlobalTrend(
            hashtag_id=s.hashtag_id,
            window=window,
            rank=rank,
            score=s.score,
            post_count=s.post_count,
            unique_authors=s.unique_authors,
            as_of=as_of,
            computed_at=now,
        )
        for rank, s in enumerate(scores, start=1)
    ]
    with transaction.atomic():
        GlobalTrend.objects.filter(window=window).delete()
        GlobalTrend.objects.bulk_create(rows)
    return rows


def global_trends_recompute_all(*, as_of: datetime | None = None) -> dict[str, int]:
    """:func:`global_trends_recompute` for every window, one shared ``as_of``.

    Returns:
        ``{window: number of trends stored}``.
    """
    as_of = as_of or timezone.now()
    return {window: len(global_trends_recompute(window=window, as_of=as_of)) for window in trending.WINDOWS}
