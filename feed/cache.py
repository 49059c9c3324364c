"""The feed's cache-aside layer with versioned keys (the seed's "Read Request with Cache").

Every viewer has a version token ``feed:ver:<viewer id>``; a cached page's key contains it.
Events that change what a viewer's feed shows (a friend's new, edited or deleted post, a
score change, friendship accepted or removed, a block, moderation) replace the tokens of
every affected viewer in one ``set_many`` round trip (:func:`feed_versions_bump`), so their
old pages are never read again and simply expire (``PAGE_TTL``, the safety net).

Pushes of ``feed.updated`` are bounded per viewer (:func:`feed_push_due`): at most one per
:data:`PUSH_INTERVAL` seconds, however many events change the feed (a like toggled 50 times
moves the post's score back and forth 50 times). Versions are bumped regardless, so the next
read is fresh; only the hint to re-read is rate-limited.

A page stores its post ids and the next cursor; beside it (``<page key>:objects``) the API
caches the page's rendered post objects. Every read re-checks the posts' visibility and reads
what changes without a version bump (counters, score, ``liked_by_me``, the author's profile,
an edit) in one query (:func:`feed.selectors.live_post_fields`), so a stale page can never show
a deleted, moderated or no-longer-visible post, nor an old count.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache, caches

from bellamy.caching import cache_delete_matching, cache_version, cache_versions_bump

#: Seconds a cached page lives even if no event replaces its version (safety net).
PAGE_TTL = 60
#: Seconds a version token lives (a missing token reads as a fresh version).
VERSION_TTL = 7 * 24 * 3600
#: Seconds within which a viewer gets at most one ``feed.updated`` push.
PUSH_INTERVAL = 10


def _version_key(viewer_id: int) -> str:
    return f"feed:ver:{viewer_id}"


def feed_version(viewer_id: int) -> str:
    """The viewer's current version token (created on first use)."""
    return cache_version(_version_key(viewer_id), VERSION_TTL)


def feed_versions_bump(viewer_ids: Iterable[int]) -> list[int]:
    """Give each viewer a new version token (one round trip), invalidating their pages.

    Returns:
        The distinct viewer ids bumped, sorted.
    """
    ids = sorted(set(viewer_ids))
    cache_versions_bump((_version_key(v) for v in ids), VERSION_TTL)
    return ids


def _push_key(viewer_id: int) -> str:
    return f"feed:pushed:{viewer_id}"


def _redis_client():
    """The primary's redis-py client when the cache is django-redis (``REDIS_URL``), else None."""
    try:
        from django_redis.cache import RedisCache
    except ImportError:  # pragma: no cover - django-redis is a runtime requirement
        return None
    backend = caches["default"]
    return backend.client.get_client(write=True) if isinstance(backend, RedisCache) else None


def feed_push_due(viewer_ids: Iterable[int]) -> list[int]:
    """The viewers of ``viewer_ids`` who may be pushed ``feed.updated`` now, marking them.

    A viewer is due when no push was marked for them in the last :data:`PUSH_INTERVAL` seconds.
    On Redis one pipelined round trip of ``SET key 1 NX EX interval`` for the whole list; on the
    local-memory cache one ``add`` per viewer (in-process).

    Returns:
        The due viewer ids, sorted.
    """
    ids = sorted(set(viewer_ids))
    if not ids:
        return []
    client = _redis_client()
    if client is None:
        return [v for v in ids if cache.add(_push_key(v), 1, PUSH_INTERVAL)]
    backend = caches["default"]
    pipe = client.pipeline(transaction=False)
    for viewer in ids:
        pipe.set(backend.make_key(_push_key(viewer)), b"1", nx=True, ex=PUSH_INTERVAL)
    return [viewer for viewer, marked in zip(ids, pipe.execute(), strict=True) if marked]


def page_key(viewer_id: int, *, order: str, limit: int, cursor: str | None) -> str:
    """The cache key of one feed page at the viewer's current version."""
    return f"feed:page:{viewer_id}:{feed_version(viewer_id)}:{order}:{limit}:{cursor or '-'}"


def feed_cache_key_patterns(viewer_id: int) -> list[str]:
    """Every cache key of one viewer's feed: the version token, the last push's mark, the cached
    pages, the ranked snapshots (the keys :func:`page_key` and ``feed.selectors`` write)."""
    return [_version_key(viewer_id), _push_key(viewer_id), f"feed:page:{viewer_id}:*", f"feed:snap:{viewer_id}:*"]


def feed_cache_forget(viewer_id: int) -> int:
    """Delete every cache key of ``viewer_id``'s feed (an erased account).

    Returns:
        How many keys were deleted.
    """
    return cache_delete_matching(feed_cache_key_patterns(viewer_id))
