"""Tasks of the scoring worker (queue ``scoring``) and of feed cache invalidation (queue
``default``): thin wrappers around :mod:`feed.services` and :mod:`feed.invalidation`.

Both event tasks are :func:`~bellamy.events.idempotency.batch_task` s routed in
``bellamy/events/routes.py``: the forwarder hands each a batch of events, the events already
handled are skipped in one statement, and the handler does its work for the whole batch at once.
Scores are recomputed from the database, so even a repeat under another id would be harmless.
"""

from __future__ import annotations

from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import batch_task
from feed import services
from feed.cache import feed_cache_forget
from feed.invalidation import feed_invalidate_for_events, feed_invalidate_for_users


@batch_task("feed.rescore_posts_task")
def rescore_posts_task(envelopes: list[Envelope]) -> dict[int, float]:
    """``post.created``, ``post.liked``, ``post.unliked``, ``comment.created``, ``post.deleted``,
    ``post.moderated`` → rescore the batch's distinct ``post_id`` s in one pass
    (:func:`feed.services.content_scores_refresh`: one components query, one bulk upsert).

    A first score publishes nothing; a deleted or moderated post scores 0.0 (restored when made
    visible again).

    Returns:
        ``{post id: new score}`` of the posts that still exist.
    Events:
        ``content_score.updated`` for each post whose score moved more than
        :data:`feed.scoring.CHANGE_THRESHOLD`.
    """
    post_ids = sorted({int(envelope.data["post_id"]) for envelope in envelopes})
    return {row.post_id: row.score for row in services.content_scores_refresh(post_ids=post_ids)}


@app.task(name="feed.recompute_recent_scores_task")
def recompute_recent_scores_task(batch_size: int = 500, max_batches: int = 20) -> int:
    """Beat task: rescore posts inside the decay window, bounded (see
    :func:`feed.services.content_scores_recompute_recent`). Returns the number rescored."""
    return services.content_scores_recompute_recent(batch_size=batch_size, max_batches=max_batches)


# --- feed cache invalidation (queue ``default``) -----------------------------------------------

@batch_task("feed.invalidate_feeds_task")
def invalidate_feeds_task(envelopes: list[Envelope]) -> list[int]:
    """Any batch of events that change feeds → bump the affected viewers' feed versions in one
    round trip and push ``feed.updated`` to those online and due
    (:func:`feed.invalidation.feed_invalidate_for_events`). Returns the user ids invalidated."""
    return feed_invalidate_for_events(events=envelopes)


# --- account lifecycle (README "Account lifecycle") ------------------------------------------

#: Posts rescored per query after an erasure.
RESCORE_CHUNK = 2000


@batch_task("feed.user_visibility_task")
def user_visibility_task(envelopes: list[Envelope]) -> list[int]:
    """``user.deactivated`` / ``user.reactivated`` ``{user_id, cause}`` → invalidate the feeds
    of the users and their friends (:func:`feed.invalidation.feed_invalidate_for_users`), queue
    ``default``. Returns the user ids invalidated."""
    return feed_invalidate_for_users(user_ids=[int(e.data["user_id"]) for e in envelopes])


@batch_task("feed.user_deleted_task")
def user_deleted_task(envelopes: list[Envelope]) -> int:
    """``user.deleted`` ``{user_id}`` → delete every feed cache key of the users (version
    token, pages, ranked snapshots), queue ``default``. Returns how many keys were deleted."""
    return sum(feed_cache_forget(int(e.data["user_id"])) for e in envelopes)


@batch_task("feed.user_content_erased_task")
def user_content_erased_task(envelopes: list[Envelope]) -> int:
    """``user.content_erased`` ``{user_id, post_ids, engaged_post_ids}`` → rescore, in one pass,
    the posts that lost the erased users' likes and comments, and drop the scores of their
    erased posts (:func:`feed.services.content_scores_refresh`: a post that no longer exists
    loses its score row), queue ``scoring``. Returns how many posts were rescored.

    Events:
        ``content_score.updated`` for scores that moved past the threshold.
    """
    post_ids = sorted({int(p) for e in envelopes for key in ("post_ids", "engaged_post_ids") for p in e.data[key]})
    rescored = 0
    for start in range(0, len(post_ids), RESCORE_CHUNK):  # bounded bind parameters per query
        rescored += len(services.content_scores_refresh(post_ids=post_ids[start:start + RESCORE_CHUNK]))
    return rescored
