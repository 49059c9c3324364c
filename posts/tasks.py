"""Tasks of the ``posts`` domain (queue ``default``): its handler of ``user.deleted``.

Routed in ``bellamy/events/routes.py`` (``LIFECYCLE_ROUTES``); registered with
:func:`~bellamy.events.idempotency.batch_task`, so a batch of erasures is one transaction with
its idempotency records.
"""

from __future__ import annotations

from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import batch_task
from posts import services


@batch_task("posts.user_deleted_task")
def user_deleted_task(envelopes: list[Envelope]) -> dict:
    """``user.deleted`` ``{user_id}`` → erase the users' posts, likes, comments and mentions,
    anonymise their reports (:func:`posts.services.user_content_erase`).

    Returns:
        The counts of :class:`posts.services.ContentErasure` as a dict.
    Events:
        ``user.content_erased`` (see the service).
    """
    result = services.user_content_erase(user_ids=[int(e.data["user_id"]) for e in envelopes])
    return {
        "posts": result.posts, "likes": result.likes, "comments": result.comments, "mentions": result.mentions,
        "reports_anonymised": result.reports_anonymised, "engaged_posts": result.engaged_posts, "events": result.events,
    }
