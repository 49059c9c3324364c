"""Tasks of the trending worker (queue ``trends``): thin wrappers around :mod:`trends.services`.

One route, ``trends.sync_posts_task``, takes ``post.created``, ``post.updated``, ``post.deleted``
and ``post.moderated`` (``TREND_ROUTES`` in ``bellamy/events/routes.py``): each means "make these
posts' hashtag contributions match their state", so a batch is one
:func:`~trends.services.posts_trend_sync` of its distinct posts. The task is a
:func:`~bellamy.events.idempotency.batch_task` (events already handled are skipped), and the
sync is idempotent as well, so even a repeat under another id changes nothing.
"""

from __future__ import annotations

from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import batch_task
from trends import services


@batch_task("trends.sync_posts_task")
def sync_posts_task(envelopes: list[Envelope]) -> dict:
    """A batch of post events → sync the distinct posts' hashtag contributions and upsert their
    hour buckets in one statement. Returns ``{added, removed}`` contributions."""
    result = services.posts_trend_sync(post_ids=[int(envelope.data["post_id"]) for envelope in envelopes])
    return {"added": result.added, "removed": result.removed}


@app.task(name="trends.recompute_trends_task")
def recompute_trends_task() -> dict[str, int]:
    """Beat task: rebuild the GlobalTrends of every window as of now.

    Returns:
        ``{window: trends stored}``.
    """
    return services.global_trends_recompute_all()


# --- account lifecycle (README "Account lifecycle") ------------------------------------------


@batch_task("trends.user_visibility_task")
def user_visibility_task(envelopes: list[Envelope]) -> dict:
    """``user.deactivated``, ``user.reactivated``, ``user.deleted`` ``{user_id, ...}`` → the
    users' posts stop or start counting in the hashtag buckets
    (:func:`trends.services.authors_trend_sync`); when anything moved, the GlobalTrends of every
    window are recomputed at once instead of at the next beat.

    Returns:
        ``{"added", "removed"}`` contributions.
    """
    result = services.authors_trend_sync(author_ids=[int(e.data["user_id"]) for e in envelopes])
    if result.added or result.removed:
        services.global_trends_recompute_all()
    return {"added": result.added, "removed": result.removed}
