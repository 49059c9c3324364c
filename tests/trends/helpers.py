"""Helpers of the trends tests: posts with hashtags at chosen times, bucket snapshots."""

from __future__ import annotations

from datetime import datetime

from posts.models import Hashtag, Post, PostHashtag
from posts.parsing import normalize_hashtag
from trends.models import HashtagAuthorBucket, HashtagBucket, TrendContribution
from trends.services import post_trend_sync


def make_post(author, tags: list[str], created_at: datetime, *, visibility: str = "public", sync: bool = True) -> Post:
    """A post by ``author`` at ``created_at`` linked to ``tags`` (normalised), then synced into
    the buckets as the trending worker would on ``post.created`` (unless ``sync=False``)."""
    post = Post.objects.create(
        author=author, content=" ".join(f"#{t}" for t in tags) or "x", visibility=visibility, created_at=created_at
    )
    for tag in dict.fromkeys(normalize_hashtag(t) for t in tags):
        PostHashtag.objects.create(post=post, hashtag=Hashtag.objects.get_or_create(name=tag)[0])
    if sync:
        post_trend_sync(post_id=post.id)
    return post


def buckets() -> dict[tuple[str, datetime], tuple[int, int, list[int]]]:
    """``{(tag, bucket_start): (uses, authors, sorted author ids)}`` of every hour bucket."""
    authors: dict[tuple[str, datetime], list[int]] = {}
    for name, start, author_id in HashtagAuthorBucket.objects.values_list("hashtag__name", "bucket_start", "author_id"):
        authors.setdefault((name, start), []).append(author_id)
    return {
        (name, start): (uses, n, sorted(authors.get((name, start), [])))
        for name, start, uses, n in HashtagBucket.objects.values_list("hashtag__name", "bucket_start", "uses", "authors")
    }


def ledger_size() -> int:
    """Rows in the contribution ledger."""
    return TrendContribution.objects.count()
