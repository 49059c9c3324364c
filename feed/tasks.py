"""Tasks of the scoring worker (queue ``scoring``): thin wrappers around :mod:`feed.services`.

Event tasks are registered with :func:`bellamy.events.idempotency.event_task` (one run per
event id) and routed in ``bellamy/events/routes.py`` (``SCORING_ROUTES``). Each recomputes
the score of the event's ``post_id`` from the database, so even a repeat would be harmless.
"""

from __future__ import annotations

from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import batch_task, event_task
from feed import services
from feed.cache import feed_cache_forget
from feed.invalidation import feed_invalidate_for_event, feed_invalidate_for_users


def _refresh(envelope: Envelope) -> float | None:
    """Rescore ``envelope.data["post_id"]``; returns the new score (None: post gone)."""
    row = services.content_score_refresh(post_id=int(envelope.data["post_id"]))
    return row.score if row else None


@event_task("feed.post_created_task")
def post_created_task(envelope: Envelope) -> float | None:
    """``post.created`` → first score of the post (publishes nothing)."""
    return _refresh(envelope)


@event_task("feed.post_liked_task")
def post_liked_task(envelope: Envelope) -> float | None:
    """``post.liked`` → rescore; may publish ``content_score.updated``."""
    return _refresh(envelope)


@event_task("feed.post_unliked_task")
def post_unliked_task(envelope: Envelope) -> float | None:
    """``post.unliked`` → rescore; may publish ``content_score.updated``."""
    return _refresh(envelope)


@event_task("feed.comment_created_task")
def comment_created_task(envelope: Envelope) -> float | None:
    """``comment.created`` → rescore; may publish ``content_score.updated``."""
    return _refresh(envelope)


@event_task("feed.post_deleted_task")
def post_deleted_task(envelope: Envelope) -> float | None:
    """``post.deleted`` → score 0.0; publishes ``content_score.updated`` if it was positive."""
    return _refresh(envelope)


@event_task("feed.post_moderated_task")
def post_moderated_task(envelope: Envelope) -> float | None:
    """``post.moderated`` → score 0.0 when hidden/removed, restored when made visible again."""
    return _refresh(envelope)


@app.task(name="feed.recompute_recent_scores_task")
def recompute_recent_scores_task(batch_size: int = 500, max_batches: int = 20) -> int:
    """Beat task: rescore posts inside the decay window, bounded (see
    :func:`feed.services.content_scores_recompute_recent`). Returns the number rescored."""
    return services.content_scores_recompute_recent(batch_size=batch_size, max_batches=max_batches)


# --- feed cache invalidation (queue ``default``) -----------------------------------------------

@event_task("feed.invalidate_feeds_task")
def invalidate_feeds_task(envelope: Envelope) -> list[int]:
    """Any event that changes feeds → bump the affected viewers' feed versions and push
    ``feed.updated`` to those online (:func:`feed.invalidation.feed_invalidate_for_event`).
    Returns the user ids invalidated."""
    return feed_invalidate_for_event(event_type=envelope.type, data=envelope.data)


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
