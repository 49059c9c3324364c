"""Cache helpers of every domain: version tokens (invalidate a family of keys by replacing one
token), and deleting keys by pattern on both cache backends (django-redis and local memory).

Erasing an account must leave no key of the user behind (feed pages and versions, suggestion
lists, throttle histories): each domain names its own key patterns and calls
:func:`cache_delete_matching`. django-redis has ``delete_pattern`` (``SCAN`` + ``DEL``, with
the deployment's key prefix applied); the embedded default's local-memory cache is matched in
process.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Iterable

from django.core.cache import cache


def cache_delete_matching(patterns: Iterable[str]) -> int:
    """Delete every key of the default cache matching one of ``patterns``.

    Args:
        patterns: glob patterns over the keys as the code writes them (without the deployment's
            ``KEY_PREFIX``), e.g. ``"feed:page:42:*"``; ``*`` and ``?`` are wildcards.
    Returns:
        How many keys were deleted.
    """
    total = 0
    for pattern in patterns:
        if hasattr(cache, "delete_pattern"):  # django-redis
            total += cache.delete_pattern(pattern, itersize=1000) or 0
            continue
        # Local memory (one process): match the keys as stored, with prefix and version.
        stored = cache.make_key(pattern)
        with cache._lock:
            matching = [key for key in list(cache._cache) if fnmatch.fnmatchcase(key, stored)]
            for key in matching:
                cache._delete(key)
        total += len(matching)
    return total


def cache_version(key: str, ttl: int) -> str:
    """The version token stored at ``key`` in the default cache, created on first use (kept
    ``ttl`` seconds). Readers put the token into their cache keys, so replacing it
    (:func:`cache_versions_bump`) invalidates every entry at once; two processes using it
    first at the same time agree on one token (``add`` wins once)."""
    token = cache.get(key)
    if token is None:
        token = uuid.uuid4().hex[:12]
        if not cache.add(key, token, ttl):
            token = cache.get(key) or token
    return token


def cache_versions_bump(keys: Iterable[str], ttl: int) -> None:
    """Give every version key in ``keys`` a new token, in one round trip (``set_many``)."""
    tokens = {key: uuid.uuid4().hex[:12] for key in keys}
    if tokens:
        cache.set_many(tokens, ttl)
