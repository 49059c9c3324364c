"""The registry of event types and their Kafka topics.

Types are ``<entity>.<past tense>`` (ARCHITECTURE.md §4); the topic of a type is the type
itself, behind the optional ``BELLAMY_TOPIC_PREFIX`` that isolates environments and test runs.
The dict value documents the ``data`` keys each type carries (ids and small facts only).
"""

from __future__ import annotations

from django.conf import settings

#: Event type → the keys of its ``data`` (documentation; the envelope keeps whatever it is given).
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "post.created": ("post_id", "author_id", "visibility", "hashtags", "mention_ids", "created_at"),
    "post.updated": ("post_id", "author_id", "visibility", "hashtags", "mention_ids"),
    "post.deleted": ("post_id", "author_id"),
    "post.liked": ("post_id", "author_id", "user_id"),
    "post.unliked": ("post_id", "author_id", "user_id"),
    "post.moderated": ("post_id", "author_id", "action", "moderator_id"),
    "comment.created": ("comment_id", "post_id", "author_id", "user_id", "mention_ids"),
    "friendship.requested": ("request_id", "from_user_id", "to_user_id"),
    "friendship.accepted": ("request_id", "from_user_id", "to_user_id"),
    "friendship.removed": ("user_id", "friend_id"),
    "user.blocked": ("blocker_id", "blocked_id"),
    "content_score.updated": ("post_id", "author_id", "score", "previous_score"),
    "relationship_weight.updated": ("from_user_id", "to_user_id", "weight"),
    # Account lifecycle (bellamy.accounts.services, README "Account lifecycle").
    "user.deactivated": ("user_id", "cause"),
    "user.reactivated": ("user_id", "cause"),
    "user.deleted": ("user_id",),
    "user.content_erased": ("user_id", "post_ids", "engaged_post_ids"),
}

#: Where the forwarder sends undecodable or unknown messages (behind the same prefix).
DEAD_LETTER_TOPIC = "bellamy.dead_letter"


def is_registered(event_type: str) -> bool:
    """True when ``event_type`` may be published."""
    return event_type in EVENT_TYPES


def topic_for(event_type: str, *, prefix: str | None = None) -> str:
    """Return the Kafka topic of ``event_type``: ``<prefix><event_type>``.

    Args:
        event_type: a registered type, e.g. ``"post.created"``.
        prefix: defaults to ``settings.BELLAMY_TOPIC_PREFIX``.
    """
    return f"{settings.BELLAMY_TOPIC_PREFIX if prefix is None else prefix}{event_type}"


def all_topics(*, prefix: str | None = None) -> list[str]:
    """Every registered type's topic, sorted (what the forwarder subscribes to)."""
    return sorted(topic_for(t, prefix=prefix) for t in EVENT_TYPES)


def type_of_topic(topic: str, *, prefix: str | None = None) -> str | None:
    """Inverse of :func:`topic_for`: the event type of ``topic``, or ``None`` if unregistered."""
    prefix = settings.BELLAMY_TOPIC_PREFIX if prefix is None else prefix
    if not topic.startswith(prefix):
        return None
    event_type = topic[len(prefix):]
    return event_type if event_type in EVENT_TYPES else None
