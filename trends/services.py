"""Writes of the ``trends`` domain: hashtag buckets (the trending worker) and GlobalTrends.

- :func:`posts_trend_sync` makes the contributions of a batch of posts match their current
  state: a public, visible, live post counts once for each of its hashtags in the hour of its
  ``created_at``; anything else counts for nothing. The trending worker calls it with the
  distinct posts of a batch of ``post.created``, ``post.updated``, ``post.deleted`` and
  ``post.moderated`` events; it is idempotent by construction (it diffs the desired
  contributions against the :class:`~trends.models.TrendContribution` ledger), so a repeated
  or reordered event changes nothing, and it upserts every touched hour bucket in one
  statement. :func:`post_trend_sync` is a batch of one.
- :func:`trend_buckets_rebuild` rebuilds all three bucket tables from posts in bulk.
- :func:`global_trends_recompute` stores the ranked trends of a window as of a reference time.

Nothing here publishes events: trends are a read model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from itertools import islice
from operator import or_

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
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


def _pairs_q(pairs: Iterable[tuple], first: str, second: str) -> Q:
    """``Q`` matching any of ``pairs`` (non-empty) on the fields ``first`` / ``second``."""
    return reduce(or_, (Q(**{first: a, second: b}) for a, b in pairs))


def _refresh_buckets(pairs: Iterable[tuple[int, datetime]]) -> None:
    """Recount the buckets ``(hashtag_id, bucket_start)`` from the ledger, all at once.

    Statements, whatever the number of buckets: the missing bucket rows are created and every
    bucket is locked (``SELECT … FOR UPDATE`` in sorted order, so concurrent syncs cannot
    deadlock); then — in statements that start after the locks were granted, so they see every
    contribution a concurrent sync committed — one aggregate recount of the ledger, ONE upsert
    of every bucket that still counts (``INSERT … ON CONFLICT DO UPDATE``), one delete of the
    buckets left empty, and the exact author sets: one delete of the authors no longer in the
    ledger and one insert of those missing.
    """
    keys = sorted(set(pairs))
    if not keys:
        return
    where = _pairs_q(keys, "hashtag_id", "bucket_start")
    HashtagBucket.objects.bulk_create(
        [HashtagBucket(hashtag_id=h, bucket_start=b) for h, b in keys], ignore_conflicts=True
    )
    list(HashtagBucket.objects.select_for_update().filter(where).order_by("hashtag_id", "bucket_start")
         .values_list("id", flat=True))
    ledger = TrendContribution.objects.filter(where)
    counts = {
        (h, b): (uses, authors)
        for h, b, uses, authors in ledger.values("hashtag_id", "bucket_start")
        .annotate(uses=Count("id"), authors=Count("author_id", distinct=True))
        .order_by()
        .values_list("hashtag_id", "bucket_start", "uses", "authors")
    }
    if counts:
        HashtagBucket.objects.bulk_create(
            [HashtagBucket(hashtag_id=h, bucket_start=b, uses=u, authors=a) for (h, b), (u, a) in sorted(counts.items())],
            update_conflicts=True, unique_fields=["hashtag", "bucket_start"], update_fields=["uses", "authors"],
        )
    empty = [key for key in keys if key not in counts]
    if empty:
        HashtagBucket.objects.filter(_pairs_q(empty, "hashtag_id", "bucket_start")).delete()
    HashtagAuthorBucket.objects.filter(where).exclude(
        Exists(TrendContribution.objects.filter(
            hashtag_id=OuterRef("hashtag_id"), bucket_start=OuterRef("bucket_start"), author_id=OuterRef("author_id")
        ))
    ).delete()
    HashtagAuthorBucket.objects.bulk_create(
        [HashtagAuthorBucket(hashtag_id=h, bucket_start=b, author_id=a)
         for h, b, a in ledger.values_list("hashtag_id", "bucket_start", "author_id").distinct().order_by()],
        ignore_conflicts=True,
    )


def posts_trend_sync(*, post_ids: Iterable[int]) -> SyncResult:
    """Make the hashtag contributions of every post of ``post_ids`` match its current state
    (idempotent), in a constant number of statements whatever the number of posts.

    The posts' rows, and only those, are locked for the transaction (in id order, ``FOR NO KEY
    UPDATE OF`` the posts) so two syncs of one post serialise. The authors' rows read through
    the join stay unlocked: a lock on them would make the authors' next posts, whose foreign
    key takes a share lock on the author's row at commit, wait for the sync, and two syncs
    locking their authors in different orders deadlock. A missing (hard-deleted), soft-deleted,
    moderated or non-public post has its contributions removed; a public visible post gets one
    per linked hashtag, in the UTC hour of its ``created_at``. The touched buckets are recounted
    together (:func:`_refresh_buckets`).

    Args:
        post_ids: any number of post ids (repeats count once).
    Returns:
        :class:`SyncResult` with the contributions added and removed over all the posts —
        ``SyncResult(0, 0)`` when nothing changed (e.g. a repeated event).
    Events:
        None.
    """
    ids = sorted(set(post_ids))
    if not ids:
        return SyncResult(added=0, removed=0)
    with transaction.atomic():
        posts = {
            row["id"]: row
            for row in Post.objects.select_for_update(of=("self",), no_key=True).filter(pk__in=ids).order_by("pk")
            .values("id", "author_id", "author__is_active", "created_at", "deleted_at", "moderation_state", "visibility")
        }
        counting = [pid for pid in ids if _counts(posts.get(pid))]
        desired: set[tuple[int, int]] = set()
        if counting:
            desired = set(PostHashtag.objects.filter(post_id__in=counting).values_list("post_id", "hashtag_id"))
        existing = {
            (p, h): start
            for p, h, start in TrendContribution.objects.filter(post_id__in=ids)
            .values_list("post_id", "hashtag_id", "bucket_start")
        }
        removed = set(existing) - desired
        added = desired - set(existing)
        if not removed and not added:
            return SyncResult(added=0, removed=0)
        if removed:
            TrendContribution.objects.filter(_pairs_q(sorted(removed), "post_id", "hashtag_id")).delete()
        starts = {p: trending.bucket_start(posts[p]["created_at"]) for p in {p for p, _h in added}}
        if added:
            TrendContribution.objects.bulk_create(
                [
                    TrendContribution(post_id=p, hashtag_id=h, author_id=posts[p]["author_id"], bucket_start=starts[p])
                    for p, h in sorted(added)
                ],
                ignore_conflicts=True,
            )
        _refresh_buckets([(h, existing[(p, h)]) for p, h in removed] + [(h, starts[p]) for p, h in added])
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


def post_trend_sync(*, post_id: int) -> SyncResult:
    """:func:`posts_trend_sync` of one post (a batch of one)."""
    return posts_trend_sync(post_ids=[post_id])


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
