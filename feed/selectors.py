"""Reads of the ``feed`` domain: the home feed (ranked or recent) with cache-aside.

Eligible posts: the viewer's own posts and their friends' posts that the viewer may see —
visibility, blocks and moderation come from :func:`posts.selectors.visible_posts`, the one
place those rules live.

Ranked order (``order=ranked``)::

    rank = (1 + S) × (1 + ln(1 + W)) × 0.5 ** (age_hours / FRESHNESS_HALF_LIFE_HOURS)

where ``S`` is the post's ContentScore (the scoring worker's hot rank, 0 while the post has
no score yet — a fresh post is never invisible), ``W`` the relationship weight viewer → author
from the graph store (0 for the viewer's own posts and for authors without interactions), and
the last factor a slow freshness decay (half-life 48 h) that orders unscored posts by age.
The log keeps affinity from swamping engagement (after Facebook's EdgeRank, which multiplies
affinity, weight and time decay). Ties: newer id first.

Pagination stays stable while posts and scores change: the first ranked page ranks the
``RANKED_CANDIDATES`` newest eligible posts once and stores that order as a snapshot
(``SNAPSHOT_TTL``); the next pages walk the snapshot, then continue in recent order below the
oldest candidate. Walking all pages thus returns every eligible post exactly once. ``recent``
is keyset pagination on ``(created_at, id)``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bellamy import metrics
from bellamy.api.converters import MAX_ID
from feed.cache import PAGE_TTL, page_key
from graph import selectors as graph_selectors
from graph.stores import get_graph_store
from posts.models import Like, Post, PostMention
from posts.selectors import attach_post_links, visible_posts, with_post_details

ORDERS = ("ranked", "recent")
#: Newest eligible posts ranked together on a first ranked page.
RANKED_CANDIDATES = 500
#: Freshness half-life of the ranked order, in hours.
FRESHNESS_HALF_LIFE_HOURS = 48.0
#: Seconds a ranked snapshot stays walkable.
SNAPSHOT_TTL = 3600


class InvalidCursor(ValueError):
    """The cursor is malformed, or its ranked snapshot has expired (the client starts over)."""

    def __init__(self, message: str, code: str = "invalid_cursor"):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FeedPage:
    """One page: post ids in feed order and the opaque cursor of the next page (or ``None``)."""

    post_ids: list[int]
    next_cursor: str | None


def feed_posts(viewer, *, details: bool = False) -> QuerySet[Post]:
    """Every post of the viewer's home feed (own and friends' posts they may see), unordered;
    ``details=True`` prepares the queryset for serialization."""
    return visible_posts(viewer, details=details).filter(
        Q(author_id=viewer.pk) | Q(author_id__in=graph_selectors.friend_ids(viewer.pk))
    )


def rank(*, score: float | None, weight: float, age_hours: float) -> float:
    """The ranked-feed value of one post (formula in the module docstring).

    Args:
        score: ContentScore (≥ 0) or ``None`` when not scored yet.
        weight: relationship weight viewer → author (≥ 0).
        age_hours: hours since the post was created (≥ 0).
    """
    return (1.0 + (score or 0.0)) * (1.0 + math.log1p(max(weight, 0.0))) * 0.5 ** (
        max(age_hours, 0.0) / FRESHNESS_HALF_LIFE_HOURS
    )


def _encode(cursor: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(raw: str) -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidCursor("Invalid cursor.") from None
    if not isinstance(data, dict) or data.get("m") not in ("s", "k"):
        raise InvalidCursor("Invalid cursor.")
    if data["m"] == "s" and not (isinstance(data.get("s"), str) and isinstance(data.get("o"), int) and data["o"] >= 0):
        raise InvalidCursor("Invalid cursor.")
    if data["m"] == "k":
        boundary = data.get("b")
        try:
            # parse_datetime raises ValueError for a well-formed but impossible date.
            valid = (isinstance(boundary, list) and len(boundary) == 2 and isinstance(boundary[1], int)
                     and 0 <= boundary[1] <= MAX_ID and isinstance(boundary[0], str)
                     and parse_datetime(boundary[0]) is not None)
        except ValueError:
            valid = False
        if not valid:
            raise InvalidCursor("Invalid cursor.")
    return data


def _keyset_page(viewer, boundary: list | None, limit: int) -> FeedPage:
    queryset = feed_posts(viewer)
    if boundary is not None:
        created, post_id = parse_datetime(boundary[0]), boundary[1]
        queryset = queryset.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=post_id))
    rows = list(queryset.order_by("-created_at", "-id").values_list("id", "created_at")[: limit + 1])
    page = rows[:limit]
    more = len(rows) > limit
    next_cursor = _encode({"m": "k", "b": [page[-1][1].isoformat(), page[-1][0]]}) if more else None
    return FeedPage([post_id for post_id, _ in page], next_cursor)


def _ranked_first_page(viewer, limit: int, now: datetime) -> FeedPage:
    rows = list(
        feed_posts(viewer)
        .order_by("-created_at", "-id")
        .values_list("id", "author_id", "created_at", "content_score__score")[: RANKED_CANDIDATES + 1]
    )
    truncated = len(rows) > RANKED_CANDIDATES
    candidates = rows[:RANKED_CANDIDATES]
    weights = dict(get_graph_store().top_relations(viewer.pk, limit=RANKED_CANDIDATES, at=now))
    ranked = sorted(
        candidates,
        key=lambda r: (
            -rank(score=r[3], weight=0.0 if r[1] == viewer.pk else weights.get(r[1], 0.0),
                  age_hours=(now - r[2]).total_seconds() / 3600),
            -r[0],
        ),
    )
    order = [r[0] for r in ranked]
    tail = _encode({"m": "k", "b": [candidates[-1][2].isoformat(), candidates[-1][0]]}) if truncated else None
    if len(order) <= limit:
        return FeedPage(order, tail)
    snapshot = uuid.uuid4().hex
    cache.set(f"feed:snap:{viewer.pk}:{snapshot}", {"ids": order, "tail": tail}, SNAPSHOT_TTL)
    return FeedPage(order[:limit], _encode({"m": "s", "s": snapshot, "o": limit}))


def _snapshot_page(viewer, cursor: dict, limit: int) -> FeedPage:
    snapshot = cache.get(f"feed:snap:{viewer.pk}:{cursor['s']}")
    if snapshot is None:
        raise InvalidCursor("This feed cursor has expired; load the first page again.", code="cursor_expired")
    start = cursor["o"]
    ids = snapshot["ids"][start:start + limit]
    if start + limit < len(snapshot["ids"]):
        return FeedPage(ids, _encode({"m": "s", "s": cursor["s"], "o": start + limit}))
    return FeedPage(ids, snapshot["tail"])


def feed_page(viewer, *, order: str = "ranked", cursor: str | None = None, limit: int = 20,
              now: datetime | None = None) -> FeedPage:
    """Compute one page of ``viewer``'s home feed (no cache).

    Args:
        viewer: the signed-in user.
        order: ``"ranked"`` or ``"recent"``.
        cursor: ``next_cursor`` of the previous page, or ``None`` for the first page.
        limit: page size (1..100, validated by the API).
        now: reference time of the ranking (default now).
    Raises:
        InvalidCursor: malformed cursor, or an expired ranked snapshot (code ``cursor_expired``).
    """
    if cursor is None:
        if order == "recent":
            return _keyset_page(viewer, None, limit)
        return _ranked_first_page(viewer, limit, now or timezone.now())
    data = _decode(cursor)
    if data["m"] == "k":
        return _keyset_page(viewer, data["b"], limit)
    if order != "ranked":
        raise InvalidCursor("Invalid cursor.")
    return _snapshot_page(viewer, data, limit)


def cached_feed_page(viewer, *, order: str = "ranked", cursor: str | None = None, limit: int = 20) -> tuple[FeedPage, bool]:
    """Cache-aside :func:`feed_page`: return ``(page, hit)``.

    The key carries the viewer's feed version (:mod:`feed.cache`), so any event that changes
    this viewer's feed makes the old page unreachable.
    """
    key = page_key(viewer.pk, order=order, limit=limit, cursor=cursor)
    return _page_or_compute(viewer, key, cache.get(key), order=order, cursor=cursor, limit=limit)


def _page_or_compute(viewer, key: str, cached: dict | None, *, order: str, cursor: str | None,
                     limit: int) -> tuple[FeedPage, bool]:
    """``(page, hit)`` from ``cached``, the value read at ``key``; on a miss the page is
    computed and stored there."""
    metrics.cache_lookup("feed_page", hit=cached is not None)
    if cached is not None:
        return FeedPage(cached["ids"], cached["next"]), True
    page = feed_page(viewer, order=order, cursor=cursor, limit=limit)
    cache.set(key, {"ids": page.post_ids, "next": page.next_cursor}, PAGE_TTL)
    return page, False


def feed_posts_for_page(viewer, post_ids: list[int]) -> list[Post]:
    """Load the posts of a page in page order, prepared for serialization, re-checking
    visibility now: ids the viewer may no longer see (deleted, moderated, blocked,
    unfriended) are dropped, so a cached page is never stale in what it shows."""
    if not post_ids:
        return []
    loaded = {post.pk: post for post in with_post_details(feed_posts(viewer), viewer, links=False).filter(pk__in=post_ids)}
    return attach_post_links([loaded[i] for i in post_ids if i in loaded])


@dataclass(frozen=True)
class LiveFields:
    """What a cached page re-reads on every hit for one of its posts (:func:`live_post_fields`)."""

    edited_at: datetime | None
    visibility: str
    like_count: int
    comment_count: int
    score: float | None
    liked_by_me: bool
    #: A mentioned account went inactive: the cached object would still show it.
    inactive_mention: bool
    author_username: str
    author_display_name: str
    author_bio: str


def live_post_fields(viewer, post_ids: list[int]) -> dict[int, LiveFields]:
    """For the posts of ``post_ids`` that ``viewer``'s feed still holds (visibility re-checked
    now: deleted, moderated, blocked, unfriended and inactive authors' posts are left out), the
    fields of the post object that change without a feed version bump — or before the bump
    arrives: counters, score, ``liked_by_me``, the author's profile, an edit's time — in one
    query. A cached page of rendered post objects (:func:`cached_feed_objects`) is brought up
    to date with it."""
    if not post_ids:
        return {}
    rows = (
        feed_posts(viewer)
        .filter(pk__in=post_ids)
        .annotate(
            liked=Exists(Like.objects.filter(post_id=OuterRef("pk"), user_id=viewer.pk)),
            inactive_mention=Exists(PostMention.objects.filter(post_id=OuterRef("pk"), user__is_active=False)),
        )
        .values_list("id", "edited_at", "visibility", "like_count", "comment_count", "content_score__score", "liked",
                     "inactive_mention", "author__username", "author__display_name", "author__bio")
    )
    return {row[0]: LiveFields(*row[1:]) for row in rows}


def cached_feed_objects(viewer, *, order: str = "ranked", cursor: str | None = None, limit: int = 20,
                        render, is_current) -> tuple[list[dict], str | None]:
    """One page of ``viewer``'s home feed as rendered post objects, and the next cursor.

    The first read of a page (at the viewer's feed version) loads its posts and renders them
    with ``render(posts) -> [object]``; the objects are cached beside the page's ids. Later
    reads take the cached objects and bring them up to date with one query
    (:func:`live_post_fields`): posts no longer visible are dropped, counters, score,
    ``liked_by_me`` and the author's profile are read fresh, and a post edited since (or
    mentioning an account that went inactive) is loaded and rendered again —
    ``is_current(obj, live)`` tells whether a cached object still holds the post's text.
    A mentioned user's profile edit shows once the page expires (``PAGE_TTL``) or the viewer's
    feed version moves.
    """
    # one version read and one round trip for the page and its objects, both at that version
    key = page_key(viewer.pk, order=order, limit=limit, cursor=cursor)
    objects_key = f"{key}:objects"
    found = cache.get_many([key, objects_key])
    page, hit = _page_or_compute(viewer, key, found.get(key), order=order, cursor=cursor, limit=limit)
    cached = found.get(objects_key) if hit else None
    if cached is None:
        objects = render(feed_posts_for_page(viewer, page.post_ids))
        cache.set(objects_key, objects, PAGE_TTL)
        return objects, page.next_cursor
    live = live_post_fields(viewer, [obj["id"] for obj in cached])
    stale = [obj["id"] for obj in cached if obj["id"] in live
             and (live[obj["id"]].inactive_mention or not is_current(obj, live[obj["id"]]))]
    reloaded = {obj["id"]: obj for obj in render(feed_posts_for_page(viewer, stale))} if stale else {}
    stale_ids = set(stale)
    objects = []
    for obj in cached:
        fields = live.get(obj["id"])
        if fields is None:
            continue
        if obj["id"] in stale_ids:
            if obj["id"] in reloaded:
                objects.append(reloaded[obj["id"]])
            continue
        objects.append({
            **obj,
            "author": {**obj["author"], "username": fields.author_username,
                       "display_name": fields.author_display_name, "bio": fields.author_bio},
            "visibility": fields.visibility,
            "like_count": fields.like_count,
            "comment_count": fields.comment_count,
            "liked_by_me": fields.liked_by_me,
            "score": fields.score,
        })
    return objects, page.next_cursor
