"""Writes of the ``feed`` domain: the scoring worker's :class:`~feed.models.ContentScore` rows.

Every score is recomputed from the current database state (live likes, live comments, the
post's deletion and moderation state), never incremented, so a recompute is idempotent and
insensitive to event order or redelivery. The components of any number of posts come from
ONE SQL query (correlated counts per post, see :func:`_fetch_components`); rows are written
with one ``INSERT … ON CONFLICT DO UPDATE`` (``bulk_create(update_conflicts=True)``).

The formula lives in :mod:`feed.scoring`. Event-driven and periodic recomputes publish
``content_score.updated`` when a score moves more than :data:`feed.scoring.CHANGE_THRESHOLD`;
the backfill command never publishes (it rebuilds, it does not react).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bellamy.events.services import publish
from feed import scoring
from feed.models import ContentScore
from posts.models import Comment, Like, Post

#: The fields a recompute writes (everything but the primary key).
SCORE_FIELDS = (
    "score",
    "likes",
    "comments",
    "commenters",
    "distinct_engagers",
    "age_hours",
    "computed_at",
)


@dataclass(frozen=True)
class Components:
    """What a post's score is computed from, as read from the database in one query.

    ``removed`` is true for a soft-deleted post or one whose moderation state is not
    ``visible``; its score is :data:`feed.scoring.REMOVED_SCORE`.
    """

    post_id: int
    author_id: int
    created_at: datetime
    removed: bool
    likes: int
    comments: int
    commenters: int
    distinct_engagers: int

    def to_score(self, now: datetime) -> ContentScore:
        """Return the (unsaved) :class:`ContentScore` of this post computed at ``now``."""
        age = scoring.age_hours(self.created_at, now)
        if self.removed:
            score = scoring.REMOVED_SCORE
        else:
            score = scoring.hot_rank(
                engagement=scoring.engagement(
                    distinct_engagers=self.distinct_engagers, commenters=self.commenters
                ),
                age_hours=age,
            )
        return ContentScore(
            post_id=self.post_id,
            score=score,
            likes=self.likes,
            comments=self.comments,
            commenters=self.commenters,
            distinct_engagers=self.distinct_engagers,
            age_hours=age,
            computed_at=now,
        )


def _as_datetime(value) -> datetime:
    """A datetime from a raw cursor value (aware on PostgreSQL, text on SQLite)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def _components_sql(where: str, suffix: str = "") -> str:
    """The one query returning the components of every post matching ``where``.

    Columns: id, author_id, created_at, deleted_at, moderation_state, likes, comments,
    commenters, engagers. Portable SQL (PostgreSQL and SQLite): one correlated count per
    component, each an index lookup (``posts_like_unique`` on (post, user) and
    ``posts_comment_post_created`` on (post, …)); ``engagers`` counts the UNION of likers and
    commenters other than the author, so a user who likes and comments counts once.
    """
    post, like, comment = Post._meta.db_table, Like._meta.db_table, Comment._meta.db_table
    return f"""
        SELECT p.id, p.author_id, p.created_at, p.deleted_at, p.moderation_state,
          (SELECT COUNT(*) FROM {like} l WHERE l.post_id = p.id) AS likes,
          (SELECT COUNT(*) FROM {comment} c
             WHERE c.post_id = p.id AND c.deleted_at IS NULL) AS comments,
          (SELECT COUNT(DISTINCT c.author_id) FROM {comment} c
             WHERE c.post_id = p.id AND c.deleted_at IS NULL
               AND c.author_id <> p.author_id) AS commenters,
          (SELECT COUNT(*) FROM (
              SELECT l.user_id AS engager FROM {like} l
                WHERE l.post_id = p.id AND l.user_id <> p.author_id
              UNION
              SELECT c.author_id FROM {comment} c
                WHERE c.post_id = p.id AND c.deleted_at IS NULL AND c.author_id <> p.author_id
          ) engagers) AS engagers
        FROM {post} p
        WHERE {where}
        ORDER BY p.id {suffix}
    """


def _rows_to_components(rows: Iterable[tuple]) -> list[Components]:
    return [
        Components(
            post_id=pid,
            author_id=author_id,
            created_at=_as_datetime(created_at),
            removed=deleted_at is not None or state != Post.ModerationState.VISIBLE,
            likes=likes,
            comments=comments,
            commenters=commenters,
            distinct_engagers=engagers,
        )
        for pid, author_id, created_at, deleted_at, state, likes, comments, commenters, engagers in rows
    ]


def _fetch_components(post_ids: list[int]) -> list[Components]:
    """Components of the posts ``post_ids`` (missing posts are left out), ordered by id. One query."""
    if not post_ids:
        return []
    placeholders = ", ".join(["%s"] * len(post_ids))
    with connection.cursor() as cursor:
        cursor.execute(_components_sql(f"p.id IN ({placeholders})"), list(post_ids))
        return _rows_to_components(cursor.fetchall())


def _fetch_components_after(
    *, after_id: int, batch_size: int, since: datetime | None
) -> list[Components]:
    """Components of the next ``batch_size`` posts with id > ``after_id`` (created at or after
    ``since`` if given), ordered by id: one keyset page of the backfill. One query."""
    where, params = "p.id > %s", [after_id]
    if since is not None:
        where += " AND p.created_at >= %s"
        params.append(since)
    with connection.cursor() as cursor:
        cursor.execute(_components_sql(where, "LIMIT %s"), [*params, batch_size])
        return _rows_to_components(cursor.fetchall())


def _upsert(rows: list[ContentScore]) -> None:
    """Insert or update ``rows`` in one statement."""
    if rows:
        ContentScore.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["post"], update_fields=list(SCORE_FIELDS)
        )


def _publish_changes(
    components: list[Components], rows: list[ContentScore], previous: dict[int, float]
) -> int:
    """Publish ``content_score.updated`` for each row whose score moved past the threshold.

    Returns:
        The number of events published.
    """
    published = 0
    for comp, row in zip(components, rows, strict=True):
        before = previous.get(comp.post_id)
        if scoring.score_changed_enough(before, row.score):
            publish(
                "content_score.updated",
                key=comp.author_id,
                data={
                    "post_id": comp.post_id,
                    "author_id": comp.author_id,
                    "score": row.score,
                    "previous_score": before,
                },
            )
            published += 1
    return published


def content_scores_refresh(*, post_ids: list[int], now: datetime | None = None) -> list[ContentScore]:
    """Recompute and store the scores of ``post_ids`` from the current database state.

    The posts' rows are locked (``SELECT … FOR UPDATE``) for the transaction, so two workers
    recomputing one post serialise and the later one publishes against the earlier's score.
    Scores of posts that no longer exist are deleted.

    Args:
        post_ids: the posts to rescore (any number; one components query for all).
        now: the reference time of the decay (default: now).
    Returns:
        The stored :class:`ContentScore` rows (unsaved instances carrying the written values),
        ordered by post id.
    Events:
        ``content_score.updated`` key=post author id, data ``{post_id, author_id, score,
        previous_score}`` for each post whose score changed by more than
        :data:`feed.scoring.CHANGE_THRESHOLD` (10 %), never for a first score.
    """
    now = now or timezone.now()
    with transaction.atomic():
        existing = list(
            Post.objects.select_for_update().filter(pk__in=post_ids).order_by("pk").values_list("pk", flat=True)
        )
        gone = set(post_ids) - set(existing)
        if gone:
            ContentScore.objects.filter(post_id__in=gone).delete()
        previous = dict(
            ContentScore.objects.filter(post_id__in=existing).values_list("post_id", "score")
        )
        components = _fetch_components(existing)
        rows = [comp.to_score(now) for comp in components]
        _upsert(rows)
        _publish_changes(components, rows, previous)
    return rows


def content_score_refresh(*, post_id: int, now: datetime | None = None) -> ContentScore | None:
    """Recompute and store the score of one post; see :func:`content_scores_refresh`.

    Returns:
        The written :class:`ContentScore`, or ``None`` when the post does not exist (its
        score row, if any, is deleted).
    Events:
        ``content_score.updated`` as in :func:`content_scores_refresh`.
    """
    rows = content_scores_refresh(post_ids=[post_id], now=now)
    return rows[0] if rows else None


def content_scores_recompute_recent(
    *,
    now: datetime | None = None,
    batch_size: int = 500,
    max_batches: int = 20,
    min_interval: timedelta = timedelta(minutes=5),
) -> int:
    """Periodic recompute: rescore the posts still inside the decay window, stalest first.

    Each batch is one transaction that claims up to ``batch_size`` score rows of live,
    visible posts created within :data:`feed.scoring.DECAY_WINDOW` and computed more than
    ``min_interval`` ago, with ``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL), so several
    workers share the work and never wait on each other; then it scores, in the same way, up
    to ``batch_size`` posts of the window that have no score yet. At most ``max_batches``
    batches run: the work per call is bounded, never all posts.

    Args:
        now: reference time (default: now).
        batch_size: rows per batch (≥ 1).
        max_batches: batches per call (≥ 1).
        min_interval: a score computed more recently than this is left alone.
    Returns:
        The number of posts rescored.
    Events:
        ``content_score.updated`` as in :func:`content_scores_refresh`.
    """
    now = now or timezone.now()
    window_start = now - scoring.DECAY_WINDOW
    done = 0
    for _ in range(max_batches):
        with transaction.atomic():
            claimed = list(
                ContentScore.objects.filter(
                    post__created_at__gte=window_start,
                    post__deleted_at__isnull=True,
                    post__moderation_state=Post.ModerationState.VISIBLE,
                    computed_at__lt=now - min_interval,
                )
                .order_by("computed_at", "post_id")
                .select_for_update(skip_locked=True, of=("self",))
                .only("post_id", "score")[:batch_size]
            )
            unscored = list(
                Post.objects.filter(
                    created_at__gte=window_start,
                    deleted_at__isnull=True,
                    content_score__isnull=True,
                )
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            ids = sorted({row.post_id for row in claimed} | set(unscored))
            if not ids:
                break
            previous = {row.post_id: row.score for row in claimed}
            components = _fetch_components(ids)
            rows = [comp.to_score(now) for comp in components]
            _upsert(rows)
            _publish_changes(components, rows, previous)
            done += len(rows)
    return done


@dataclass(frozen=True)
class BackfillResult:
    """Outcome of :func:`content_scores_backfill`: posts scored (of which ``removed`` got
    0.0 as deleted/moderated), batches (one components query each), elapsed seconds."""

    scored: int
    removed: int
    batches: int
    seconds: float


def content_scores_backfill(
    *,
    since: datetime | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
    now: datetime | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> BackfillResult:
    """Rebuild the scores of every post (created at or after ``since``), in id order.

    Per batch: ONE query computes the components of ``batch_size`` posts (keyset on id), and
    ONE ``INSERT … ON CONFLICT DO UPDATE`` writes them (nothing with ``dry_run``). Each batch
    commits on its own, so an interrupted backfill keeps its progress and a rerun is safe.

    Args:
        since: only posts created at or after this moment (default: all).
        batch_size: posts per batch (≥ 1).
        dry_run: compute but write nothing.
        now: the reference time of the decay (default: now, fixed for the whole run).
        on_batch: called with the number of posts of each batch (a progress bar).
    Returns:
        :class:`BackfillResult`.
    Events:
        None (a rebuild does not publish ``content_score.updated``).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    started = time.perf_counter()
    after_id, scored, removed, batches = 0, 0, 0, 0
    while True:
        components = _fetch_components_after(after_id=after_id, batch_size=batch_size, since=since)
        if not components:
            break
        rows = [comp.to_score(now) for comp in components]
        if not dry_run:
            with transaction.atomic():
                _upsert(rows)
        batches += 1
        scored += len(rows)
        removed += sum(1 for comp in components if comp.removed)
        after_id = components[-1].post_id
        if on_batch:
            on_batch(len(rows))
    return BackfillResult(scored=scored, removed=removed, batches=batches, seconds=time.perf_counter() - started)
