"""Tasks of the trending worker (queue ``trends``): thin wrappers around :mod:`trends.services`.

Event tasks run once per event id (:func:`bellamy.events.idempotency.event_task`) and are
routed in ``bellamy/events/routes.py`` (``TREND_ROUTES``); :func:`trends.services.post_trend_sync`
is idempotent as well, so even a repeat under another id changes nothing.
"""

from __future__ import annotations

from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import batch_task, event_task
from trends import services


def _sync(envelope: Envelope) -> dict:
    result = services.post_trend_sync(post_id=int(envelope.data["post_id"]))
    return {"added": result.added, "removed": result.removed}


@event_task("trends.post_created_task")
def post_created_task(envelope: Envelope) -> dict:
    """``post.created`` → count the post's hashtags in its hour bucket. Returns ``{added, removed}``."""
    return _sync(envelope)


@event_task("trends.post_updated_task")
def post_updated_task(envelope: Envelope) -> dict:
    """``post.updated`` → follow hashtag or visibility changes. Returns ``{added, removed}``."""
    return _sync(envelope)


@event_task("trends.post_deleted_task")
def post_deleted_task(envelope: Envelope) -> dict:
    """``post.deleted`` → remove the post's contribution. Returns ``{added, removed}``."""
    return _sync(envelope)


@event_task("trends.post_moderated_task")
def post_moderated_task(envelope: Envelope) -> dict:
    """``post.moderated`` → remove (hidden/removed) or restore (visible) the contribution."""
    return _sync(envelope)


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
