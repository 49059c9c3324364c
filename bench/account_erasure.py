"""Benchmark of an account erasure: a user with 10,000 posts and 1,000 friends, erased everywhere.

Standalone: ``.venv/bin/python bench/account_erasure.py`` from the repository root. It uses
``DATABASE_URL`` (default ``postgres://bellamy:bellamy@127.0.0.1:5432/bellamy_bench_erasure``;
created if missing and migrated) and ``REDIS_URL`` (default DB 12 of the local server), with
the in-process event bus and eager Celery (no ``BELLAMY_EVENTS_URL``), so every ``user.deleted``
handler — and the ``user.content_erased`` ones they trigger — runs inside the timed call, one
after the other, as the workers would. The notification and graph stores are those of
``BELLAMY_NOTIFICATIONS_URL`` / ``BELLAMY_GRAPH_URL`` (default: the ORM stores; point them at a
private MongoDB / Neo4j, never at a shared one: the bench creates and leaves 2,000 users).

Two identical accounts are built each run (``leaver`` and ``twin``): 10,000 posts each (one in
ten with a hashtag), 1,000 friends in common (PostgreSQL friendships and graph-store edges),
each post liked by two friends, and one like and one comment from the account on a post of
each friend (1,000 posts of other people that lose engagement and are rescored). Then:

- **baseline**: ``twin.delete()`` — Django's collector deleting the twin's PostgreSQL rows
  (what an erasure that forgets every other store would cost);
- **erasure**: :func:`bellamy.accounts.lifecycle.account_erase` (``force``) for ``leaver``, with
  every store's handler, then :func:`~bellamy.accounts.lifecycle.account_erasures_complete`.

It prints both durations, their ratio and what remains of the leaver (must be nothing).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _common import emit, setup_django  # noqa: E402

POSTS = 10_000
FRIENDS = 1_000


def build_account(tag: str, friends: list, hashtag) -> object:
    """One account with ``POSTS`` posts, friendships with ``friends``, likes and comments."""
    from django.contrib.auth import get_user_model

    from graph.models import Friendship
    from graph.stores import get_graph_store
    from posts.models import Comment, Like, Post, PostHashtag

    user = get_user_model().objects.create_user(username=f"{tag}_{uuid.uuid4().hex[:8]}", password="x")
    posts = Post.objects.bulk_create(
        [Post(author=user, content=f"bench post {n}", visibility="public") for n in range(POSTS)], batch_size=2000
    )
    PostHashtag.objects.bulk_create(
        [PostHashtag(post=post, hashtag=hashtag, created_at=post.created_at) for post in posts[::10]], batch_size=2000
    )
    Like.objects.bulk_create(
        [Like(post=post, user=friends[(n + k) % len(friends)]) for n, post in enumerate(posts) for k in (0, 1)],
        batch_size=5000,
    )
    Post.objects.filter(author=user).update(like_count=2)
    Friendship.objects.bulk_create(
        [Friendship(user_low_id=min(user.pk, f.pk), user_high_id=max(user.pk, f.pk)) for f in friends],
        batch_size=2000,
    )
    get_graph_store().bulk_add_friendships([(user.pk, f.pk) for f in friends])
    their_posts = list(Post.objects.filter(author__in=friends, content="friend post").values_list("pk", flat=True))
    Like.objects.bulk_create([Like(post_id=pk, user=user) for pk in their_posts], batch_size=2000)
    Comment.objects.bulk_create([Comment(post_id=pk, author=user, content="hi") for pk in their_posts], batch_size=2000)
    return user


def remaining(user_id: int) -> dict[str, int]:
    """What PostgreSQL and the graph store still hold of ``user_id`` (non-zero counts only)."""
    from django.contrib.auth import get_user_model

    from graph.models import Friendship
    from graph.stores import get_graph_store
    from posts.models import Comment, Like, Post

    counts = {
        "users": get_user_model().objects.filter(pk=user_id).count(),
        "posts": Post.objects.filter(author_id=user_id).count(),
        "likes": Like.objects.filter(user_id=user_id).count(),
        "comments": Comment.objects.filter(author_id=user_id).count(),
        "friendships": Friendship.objects.filter(user_low_id=user_id).count()
        + Friendship.objects.filter(user_high_id=user_id).count(),
        "graph_friends": len(get_graph_store().friend_ids(user_id)),
    }
    return {name: n for name, n in counts.items() if n}


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    setup_django("bellamy_bench_erasure")
    from django.contrib.auth import get_user_model

    from bellamy.accounts import lifecycle
    from posts.models import Hashtag, Post

    started = time.perf_counter()
    run = uuid.uuid4().hex[:6]
    friends = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench_friend_{run}_{n}", password="!") for n in range(FRIENDS)]
    )
    Post.objects.bulk_create([Post(author=f, content="friend post", visibility="public") for f in friends])
    hashtag, _ = Hashtag.objects.get_or_create(name=f"bench{run}")
    leaver = build_account("leaver", friends, hashtag)
    twin = build_account("twin", friends, hashtag)
    print(f"built 2 accounts with {POSTS} posts and {FRIENDS} friends each in {time.perf_counter() - started:.1f}s")

    started = time.perf_counter()
    twin.delete()
    baseline = time.perf_counter() - started
    print(f"baseline twin.delete() (PostgreSQL cascade only): {baseline:.2f}s")

    started = time.perf_counter()
    erasure = lifecycle.account_erase(user_id=leaver.pk, force=True)
    handled = time.perf_counter() - started
    completed = lifecycle.account_erasures_complete()
    total = time.perf_counter() - started
    left = remaining(leaver.pk)
    print(f"erasure of user {leaver.pk}: user.deleted {erasure.event_id} and every handler {handled:.2f}s, "
          f"completed {completed} in {total:.2f}s total")
    print(f"ratio erasure/baseline: {total / baseline:.2f}")
    print(f"remaining of the leaver: {left or 'nothing'}")
    emit({"posts": POSTS, "friends": FRIENDS, "seconds": total, "baseline_seconds": baseline,
          "ratio": total / baseline, "remaining": sum(left.values())})


if __name__ == "__main__":
    main()
