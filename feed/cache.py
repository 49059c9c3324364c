"""The feed's cache-aside layer with versioned keys (the seed's "Read Request with Cache").

Every viewer has a version token ``feed:ver:<viewer id>``; a cached page's key contains it.
Events that change what a viewer's feed shows (a friend's new, edited or deleted post, a
score change, friendship accepted or removed, a block, moderation) replace the tokens of
every affected viewer in one ``set_many`` round trip (:func:`feed_versions_bump`), so their
old pages are never read again and simply expire (``PAGE_TTL``, the safety net).

Pages store post ids and the next cursor only; the posts themselves are loaded, and their
visibility re-checked, on every read (:mod:`feed.selectors`), so a stale page can never show
a deleted, moderated or no-longer-visible post.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.core.cache import cache

from bellamy.caching import cache_delete_matching

#: Seconds a cached page lives even if no event replaces its version (safety net).
PAGE_TTL = 60
#: Seconds a version token lives (a missing token reads as a fresh version).
VERSION_TTL = 7 * 24 * 3600


def _version_key(viewer_id: int) -> str:
    return f"feed:ver:{viewer_id}"


def feed_version(viewer_id: int) -> str:
    """The viewer's current version token (created on first use)."""
    key = _version_key(viewer_id)
    token = cache.get(key)
    if token is None:
        token = uuid.uuid4().hex[:12]
        if not cache.add(key, token, VERSION_TTL):
            token = cache.get(key) or token
    return token


def feed_versions_bump(viewer_ids: Iterable[int]) -> list[int]:
    """Give each viewer a new version token (one round trip), invalidating their pages.

    Returns:
        The distinct viewer ids bumped, sorted.
    """
    ids = sorted(set(viewer_ids))
    if ids:
        cache.set_many({_version_key(v): uuid.uuid4().hex[:12] for v in ids}, VERSION_TTL)
    return ids


def page_key(viewer_id: int, *, order: str, limit: int, cursor: str | None) -> str:
    """The cache key of one feed page at the viewer's current version."""
    return f"feed:page:{viewer_id}:{feed_version(viewer_id)}:{order}:{limit}:{cursor or '-'}"


def feed_cache_key_patterns(viewer_id: int) -> list[str]:
    """Every cache key of one viewer's feed: the version token, the cached pages, the ranked
    snapshots (the keys :func:`page_key` and ``feed.selectors`` write)."""
    return [_version_key(viewer_id), f"feed:page:{viewer_id}:*", f"feed:snap:{viewer_id}:*"]


def feed_cache_forget(viewer_id: int) -> int:
    """Delete every cache key of ``viewer_id``'s feed (an erased account).

    Returns:
        How many keys were deleted.
    """
    return cache_delete_matching(feed_cache_key_patterns(viewer_id))
