"""Helpers of the posts tests: what was published and written."""

from __future__ import annotations

from bellamy.events.models import OutboxEvent
from posts.models import Comment, Hashtag, Like, Post, PostHashtag, PostMention, Report


def outbox() -> list[tuple[str, dict]]:
    """Every event published so far as ``(type, data)``, in publication order."""
    return [(row.type, row.payload["data"]) for row in OutboxEvent.objects.order_by("id")]


def row_counts() -> dict[str, int]:
    """Row counts of every table a posts request may write."""
    return {
        "posts": Post.objects.count(),
        "hashtags": Hashtag.objects.count(),
        "post_hashtags": PostHashtag.objects.count(),
        "post_mentions": PostMention.objects.count(),
        "likes": Like.objects.count(),
        "comments": Comment.objects.count(),
        "reports": Report.objects.count(),
        "events": OutboxEvent.objects.count(),
    }
