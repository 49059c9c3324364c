"""Reads of the ``search`` domain: posts, people and hashtags matching a query, one page at a time.

Visibility is never decided here. Posts come from :func:`posts.selectors.visible_posts` (the
one place for it: deleted and moderated posts, blocks both ways, friends-only and private
posts), embedded in the store's query as a subquery, and the page is loaded again through it;
people from :func:`graph.selectors.searchable_users` (active, not blocked either
way). Hashtag statistics are global, like trends, and count public posts only.

Every read runs on the database the visible posts are read from (the primary, or the replica
inside :func:`bellamy.db_router.replica_reads`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import router
from django.db.models.functions import Lower

from graph.selectors import searchable_users
from posts.models import Hashtag, Post
from posts.selectors import attach_post_links, visible_posts, with_post_details
from search.cursors import InvalidCursor, decode_cursor, encode_cursor
from search.query import (
    HASHTAGS,
    POSTS,
    USERS,
    InvalidQuery,
    fingerprint,
    parse_hashtag_prefix,
    parse_people_query,
    parse_post_query,
)
from search.stores import get_search_store
from search.stores.base import HashtagHit

__all__ = ["InvalidCursor", "InvalidQuery", "SearchPage", "search", "search_hashtags", "search_people", "search_posts"]


@dataclass(frozen=True)
class SearchPage:
    """One page of results, best first, and the cursor of the next page (``None`` at the end).

    ``results`` holds :class:`posts.models.Post` objects ready for ``PostSerializer`` (posts),
    ``User`` objects (people) or :class:`search.stores.base.HashtagHit` (hashtags).
    """

    results: list
    next_cursor: str | None


def search_posts(viewer, *, q: str, limit: int = 20, cursor: str | None = None) -> SearchPage:
    """Return the page of posts matching ``q`` that ``viewer`` may see, best first (relevance
    with a recency factor: :mod:`search.stores.base`).

    Args:
        viewer: the signed-in user (an anonymous viewer sees nothing).
        q: the query (grammar: :mod:`search.query`).
        limit: page size, 1..100.
        cursor: ``next_cursor`` of the previous page, or ``None``.
    Returns:
        :class:`SearchPage` of posts prepared for serialization (author joined, links
        prefetched, ``liked_by_me``/``score`` annotated). Costs the search query plus the
        page's load (one query and two prefetches); a hashtag or mention term adds one lookup.
    Raises:
        InvalidQuery: ``q`` cannot be searched.
        InvalidCursor: the cursor is malformed or from another search.
    """
    query = parse_post_query(q)
    digest = fingerprint(POSTS, repr(query))
    after = decode_cursor(cursor, POSTS, digest)
    visible = visible_posts(viewer, details=False)
    using = visible.db
    hashtag_ids, mention_ids = _resolve_terms(query.hashtags, query.mentions, using=using)
    if hashtag_ids is None:
        return SearchPage([], None)
    hits = get_search_store().search_posts(
        query, visible=visible, hashtag_ids=hashtag_ids, mention_ids=mention_ids, limit=limit + 1, after=after
    )
    page, more = hits[:limit], len(hits) > limit
    # Loaded again through the same visibility filter (a post hidden in between is left out).
    loaded = with_post_details(visible, viewer, links=False).in_bulk([hit.id for hit in page])
    # A post that became invisible between the two queries is left out of the page; the
    # cursor still continues after the page's last hit.
    posts = attach_post_links([loaded[hit.id] for hit in page if hit.id in loaded])
    return SearchPage(posts, encode_cursor(POSTS, digest, (page[-1].score, page[-1].id)) if more else None)


def _resolve_terms(hashtags, mentions, *, using: str) -> tuple[list[int] | None, list[int]]:
    """Resolve hashtag names and usernames to ids; ``(None, [])`` when one of them does not
    exist (no post can match)."""
    tag_ids = dict(Hashtag.objects.using(using).filter(name__in=hashtags).values_list("name", "id")) if hashtags else {}
    user_ids = dict(
        get_user_model()
        .objects.using(using)
        .annotate(username_lower=Lower("username"))
        .filter(username_lower__in=mentions)
        .values_list("username_lower", "id")
    ) if mentions else {}
    if len(tag_ids) < len(hashtags) or len(user_ids) < len(mentions):
        return None, []
    return [tag_ids[name] for name in hashtags], [user_ids[name] for name in mentions]


def search_people(viewer, *, q: str, limit: int = 20, cursor: str | None = None) -> SearchPage:
    """Return the page of people matching ``q`` by username or display name — prefixes first,
    then typo-tolerant (trigram) matches — among the users ``viewer`` may find.

    Args, Raises: as :func:`search_posts`.
    Returns:
        :class:`SearchPage` of ``User`` objects.
    """
    key = parse_people_query(q)
    digest = fingerprint(USERS, key)
    after = decode_cursor(cursor, USERS, digest)
    visible = searchable_users(viewer_id=viewer.pk)
    hits = get_search_store().search_people(key, visible=visible, limit=limit + 1, after=after)
    page, more = hits[:limit], len(hits) > limit
    loaded = get_user_model().objects.using(visible.db).in_bulk([hit.id for hit in page])
    people = [loaded[hit.id] for hit in page if hit.id in loaded]
    return SearchPage(people, encode_cursor(USERS, digest, (page[-1].score, page[-1].id)) if more else None)


def search_hashtags(viewer, *, q: str, limit: int = 20, cursor: str | None = None) -> SearchPage:
    """Return the page of hashtags starting with ``q`` (``#`` optional) used by public posts,
    most recently used first, then by name.

    Args, Raises: as :func:`search_posts`.
    Returns:
        :class:`SearchPage` of :class:`search.stores.base.HashtagHit`.
    """
    prefix = parse_hashtag_prefix(q)
    digest = fingerprint(HASHTAGS, prefix)
    after = decode_cursor(cursor, HASHTAGS, digest)
    hits: list[HashtagHit] = get_search_store().search_hashtags(
        prefix, using=router.db_for_read(Post), limit=limit + 1, after=after
    )
    page, more = hits[:limit], len(hits) > limit
    last = page[-1] if page else None
    return SearchPage(page, encode_cursor(HASHTAGS, digest, (last.last_used_at, last.name)) if more else None)


_SEARCHES = {POSTS: search_posts, USERS: search_people, HASHTAGS: search_hashtags}


def search(viewer, *, q: str, type: str = POSTS, limit: int = 20, cursor: str | None = None) -> SearchPage:
    """Dispatch to :func:`search_posts`, :func:`search_people` or :func:`search_hashtags` by
    ``type`` (``"posts"``, ``"users"``, ``"hashtags"``).

    Raises:
        InvalidQuery: unknown ``type``, or as the search.
        InvalidCursor: as the search.
    """
    try:
        run = _SEARCHES[type]
    except KeyError:
        raise InvalidQuery(f"Unknown search type {type!r}.") from None
    return run(viewer, q=q, limit=limit, cursor=cursor)
