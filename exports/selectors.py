"""Reads of the data export: the files of a user's archive, and the jobs.

The archive (README "Account lifecycle") is six JSON files, each an array of objects in a
stable order; times are RFC 3339 UTC strings ending in ``Z`` (as the API renders them):

``profile.json``      ``{id, username, email, display_name, bio, date_joined, last_login}`` (one object)
``posts.json``        the user's posts, deleted and moderated ones included: ``{id, content,
                      visibility, hashtags, mentions: [username], created_at, edited_at,
                      deleted_at, moderation_state, like_count, comment_count}``, oldest first
``comments.json``     ``{id, post_id, content, created_at, deleted_at}``, oldest first
``likes.json``        ``{post_id, created_at}``, oldest first
``friends.json``      ``{id, username, display_name, since}``, oldest friendship first (active
                      friends only: a deactivated friend is not shown, as everywhere)
``notifications.json`` ``{id, type, actors: [username], actor_count, post_id, comment_id,
                      created_at, read}``, newest first (the store's order)

Each iterator reads in bounded chunks, so an account with tens of thousands of posts is
exported in constant memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db.models import Prefetch

from exports.models import ExportJob
from graph import selectors as graph_selectors
from notifications import selectors as notification_selectors
from posts.models import Comment, Like, Post, PostHashtag, PostMention

#: Rows per query while building an archive.
CHUNK = 1000
#: The archive's files, in the zip's order.
FILES = ("profile.json", "posts.json", "comments.json", "likes.json", "friends.json", "notifications.json")


def rfc3339(moment: datetime | None) -> str | None:
    """``moment`` as an RFC 3339 UTC string ending in ``Z`` (microseconds kept), or ``None``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def profile(user) -> dict:
    """The ``profile.json`` object of ``user``."""
    return {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
        "display_name": user.display_name,
        "bio": user.bio,
        "date_joined": rfc3339(user.date_joined),
        "last_login": rfc3339(user.last_login),
    }


def posts(user_id: int) -> Iterator[dict]:
    """The ``posts.json`` objects of ``user_id``, oldest first (two prefetch queries per chunk)."""
    queryset = Post.objects.filter(author_id=user_id).order_by("created_at", "id").prefetch_related(
        Prefetch("post_hashtags", queryset=PostHashtag.objects.select_related("hashtag").order_by("id")),
        Prefetch("post_mentions", queryset=PostMention.objects.select_related("user").order_by("id")),
    )
    for post in queryset.iterator(chunk_size=CHUNK):
        yield {
            "id": post.pk,
            "content": post.content,
            "visibility": post.visibility,
            "hashtags": [link.hashtag.name for link in post.post_hashtags.all()],
            "mentions": [link.user.username for link in post.post_mentions.all() if link.user.is_active],
            "created_at": rfc3339(post.created_at),
            "edited_at": rfc3339(post.edited_at),
            "deleted_at": rfc3339(post.deleted_at),
            "moderation_state": post.moderation_state,
            "like_count": post.like_count,
            "comment_count": post.comment_count,
        }


def comments(user_id: int) -> Iterator[dict]:
    """The ``comments.json`` objects of ``user_id``, oldest first."""
    rows = Comment.objects.filter(author_id=user_id).order_by("created_at", "id").values_list(
        "id", "post_id", "content", "created_at", "deleted_at"
    )
    for comment_id, post_id, content, created_at, deleted_at in rows.iterator(chunk_size=CHUNK):
        yield {"id": comment_id, "post_id": post_id, "content": content, "created_at": rfc3339(created_at),
               "deleted_at": rfc3339(deleted_at)}


def likes(user_id: int) -> Iterator[dict]:
    """The ``likes.json`` objects of ``user_id``, oldest first."""
    rows = Like.objects.filter(user_id=user_id).order_by("created_at", "id").values_list("post_id", "created_at")
    for post_id, created_at in rows.iterator(chunk_size=CHUNK):
        yield {"post_id": post_id, "created_at": rfc3339(created_at)}


def friends(user_id: int) -> Iterator[dict]:
    """The ``friends.json`` objects of ``user_id``: active friends, oldest friendship first."""
    since = list(graph_selectors.friendships_of(user_id))
    for start in range(0, len(since), CHUNK):
        chunk = since[start:start + CHUNK]
        users = get_user_model().objects.filter(id__in=[f for f, _ in chunk], is_active=True).in_bulk()
        for friend_id, created_at in chunk:
            if friend_id in users:
                friend = users[friend_id]
                yield {"id": friend.pk, "username": friend.username, "display_name": friend.display_name,
                       "since": rfc3339(created_at)}


def notifications(user_id: int) -> Iterator[dict]:
    """The ``notifications.json`` objects of ``user_id``, newest first (pages of :data:`CHUNK`)."""
    cursor = None
    while True:
        records, cursor = notification_selectors.notifications_page(user_id=user_id, cursor=cursor, limit=CHUNK)
        for record, data in zip(records, notification_selectors.notification_objects(records), strict=True):
            yield {
                "id": data["id"], "type": data["type"], "actors": [actor["username"] for actor in data["actors"]],
                "actor_count": data["actor_count"], "post_id": data["post_id"], "comment_id": data["comment_id"],
                "created_at": rfc3339(record.created_at), "read": data["read"],
            }
        if cursor is None:
            return


def latest_export(user_id: int) -> ExportJob | None:
    """``user_id``'s most recent export job, or ``None``."""
    return ExportJob.objects.filter(user_id=user_id).order_by("-created_at").first()


def last_counted_export(user_id: int) -> ExportJob | None:
    """``user_id``'s most recent export job that counts against the rate limit (not failed)."""
    return ExportJob.objects.filter(user_id=user_id).exclude(status=ExportJob.Status.FAILED).order_by("-created_at").first()
