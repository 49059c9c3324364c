"""Helpers of the search tests: posts written through the posts services, pages read through
the search selectors, and the search store's own rows, on whichever backend is active."""

from __future__ import annotations

from datetime import timedelta

from django.db import connections
from django.utils import timezone

from posts.models import Post
from posts.services import post_create
from search import selectors

#: A fixed "now" for tests that set creation times.
NOW = timezone.now().replace(microsecond=0)


def write(author, content: str, *, visibility: str = "public", age: timedelta | None = None, **fields) -> Post:
    """Create a post through ``posts.services.post_create`` (hashtags and mentions linked, the
    search triggers fire), then set ``created_at`` to ``NOW - age`` and any other ``fields``
    with an ``UPDATE`` (as moderation, deletion or a backdated import would)."""
    post = post_create(author=author, content=content, visibility=visibility)
    changes = dict(fields)
    if age is not None:
        changes["created_at"] = NOW - age
    if changes:
        Post.objects.filter(pk=post.pk).update(**changes)
        post.refresh_from_db()
    return post


def found(viewer, q: str, *, limit: int = 100) -> list[int]:
    """Ids of the posts ``viewer`` finds with ``q``, best first (every page)."""
    ids, cursor = [], None
    while True:
        page = selectors.search_posts(viewer, q=q, limit=limit, cursor=cursor)
        ids += [post.pk for post in page.results]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def matches(viewer, q: str) -> set[int]:
    """Ids of every post ``viewer`` finds with ``q``, as a set (when the order is not the
    point: the backends' relevance measures differ on documents of different lengths)."""
    ids = found(viewer, q)
    assert len(ids) == len(set(ids)), "a post appeared on two pages"
    return set(ids)


def people(viewer, q: str, *, limit: int = 100) -> list[str]:
    """Usernames ``viewer`` finds with ``q``, best first (every page)."""
    names, cursor = [], None
    while True:
        page = selectors.search_people(viewer, q=q, limit=limit, cursor=cursor)
        names += [user.username for user in page.results]
        if page.next_cursor is None:
            return names
        cursor = page.next_cursor


def hashtags(viewer, q: str, *, limit: int = 100) -> list[tuple[str, int]]:
    """``(name, post_count)`` of the hashtags found with ``q``, in order (every page)."""
    rows, cursor = [], None
    while True:
        page = selectors.search_hashtags(viewer, q=q, limit=limit, cursor=cursor)
        rows += [(hit.name, hit.post_count) for hit in page.results]
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor


def indexed_post_ids(alias: str) -> set[int]:
    """The post ids that have a document in the search index of database ``alias``."""
    connection = connections[alias]
    table, column = ("search_post_document", "post_id") if connection.vendor == "postgresql" else ("search_post_fts", "rowid")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")
        return {row[0] for row in cursor.fetchall()}


def hashtag_uses(alias: str) -> set[tuple[str, int]]:
    """``(hashtag name, post id)`` of every public use recorded by the PostgreSQL index of
    ``alias`` (the SQLite store counts uses at query time)."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT h.name, u.post_id FROM search_hashtag_use u JOIN search_hashtag h ON h.hashtag_id = u.hashtag_id")
        return {(name, post_id) for name, post_id in cursor.fetchall()}


def break_index(alias: str) -> None:
    """Empty the post documents (and, on PostgreSQL, the hashtag uses) of ``alias`` behind the
    triggers' back."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DELETE FROM search_post_document")
            cursor.execute("DELETE FROM search_hashtag_use")
        else:
            cursor.execute("DELETE FROM search_post_fts")


def plant_document(alias: str, post_id: int, content: str) -> None:
    """Write a document for ``post_id`` directly into the index of ``alias`` (a stale row the
    triggers would never write)."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO search_post_document (post_id, created_at, document) "
                "VALUES (%s, now(), search_document(%s))", [post_id, content],
            )
        else:
            cursor.execute("INSERT INTO search_post_fts (rowid, body, created) VALUES (%s, %s, 0)", [post_id, content])
