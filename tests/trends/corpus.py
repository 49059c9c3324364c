"""Import of the real tweet corpus as posts (read in place from the shared datasets; never copied).

``<datasets>/posts/pfizer_vaccine_tweets.csv.gz`` (``demo.importers.datasets_dir()``) — 9,214 pseudonymised tweets
(Dec 2020 – Jul 2021), see SOURCE.md there. Authors become users named ``tw_<hex>``
(deterministic), posts keep ``created_at``, and hashtags come from the ``hashtags`` column
(JSON array), normalised with posts' :func:`~posts.parsing.normalize_hashtag`.
"""

from __future__ import annotations

import csv
import gzip
import json
from datetime import datetime

from django.contrib.auth import get_user_model

from demo.importers import datasets_dir
from posts.models import Hashtag, Post, PostHashtag
from posts.parsing import HASHTAG_MAX_LENGTH, normalize_hashtag

CORPUS = datasets_dir() / "posts" / "pfizer_vaccine_tweets.csv.gz"


def read_rows() -> list[dict]:
    """The corpus rows as dicts (csv module, UTF-8)."""
    with gzip.open(CORPUS, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def import_corpus(rows: list[dict]) -> dict[str, int]:
    """Bulk-create users, public posts and hashtag links for ``rows``.

    Returns:
        ``{corpus post_id: Post id}``.
    """
    user_model = get_user_model()
    authors = sorted({row["author_id"] for row in rows})
    user_model.objects.bulk_create(
        [user_model(username=f"tw_{a[2:]}", email="", display_name=a, password="!") for a in authors],
        batch_size=2000,
    )
    user_ids = dict(
        user_model.objects.filter(username__startswith="tw_").values_list("display_name", "id")
    )
    posts = Post.objects.bulk_create(
        [
            Post(
                author_id=user_ids[row["author_id"]],
                content=(row["text"] or "(empty)")[:5000],
                visibility=Post.Visibility.PUBLIC,
                created_at=datetime.fromisoformat(row["created_at"].replace("Z", "+00:00")),
            )
            for row in rows
        ],
        batch_size=2000,
    )
    tags_per_post = []
    for row in rows:
        names = [normalize_hashtag(t) for t in json.loads(row["hashtags"] or "[]")]
        tags_per_post.append([n for n in dict.fromkeys(names) if n and len(n) <= HASHTAG_MAX_LENGTH])
    all_names = sorted({n for names in tags_per_post for n in names})
    Hashtag.objects.bulk_create([Hashtag(name=n) for n in all_names], ignore_conflicts=True, batch_size=2000)
    tag_ids = dict(Hashtag.objects.filter(name__in=all_names).values_list("name", "id"))
    PostHashtag.objects.bulk_create(
        [PostHashtag(post_id=post.id, hashtag_id=tag_ids[n], created_at=post.created_at)
         for post, names in zip(posts, tags_per_post) for n in names],
        batch_size=5000,
    )
    return {row["post_id"]: post.id for row, post in zip(rows, posts)}
