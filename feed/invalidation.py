"""Services that react to events by invalidating feed caches (and pushing ``feed.updated``).

Called by the ``feed.*`` tasks on the ``default`` queue (routes in ``bellamy/events/routes.py``),
so they always run after the change was committed.
"""

from __future__ import annotations

from bellamy.realtime.services import push_to_users
from feed.cache import feed_versions_bump
from graph import selectors as graph_selectors

#: Event types whose data carries the post author (``author_id``): the author's and every
#: friend's feed may show the post.
AUTHOR_EVENTS = ("post.created", "post.updated", "post.deleted", "post.moderated", "content_score.updated")


#: Event types that invalidate feeds without a ``feed.updated`` push: the friends learn of a
#: new post from its ``notification.created`` (one frame per post and friend).
SILENT_EVENTS = ("post.created",)


def feed_invalidate(*, user_ids: list[int], push: bool = True) -> list[int]:
    """Invalidate the cached feeds of ``user_ids`` and, with ``push``, push
    ``{"type": "feed.updated"}`` to those of them who are online.

    Returns:
        The distinct user ids invalidated, sorted.
    """
    bumped = feed_versions_bump(user_ids)
    if push:
        push_to_users(bumped, {"type": "feed.updated"})
    return bumped


def feed_invalidate_for_event(*, event_type: str, data: dict) -> list[int]:
    """Invalidate the feeds an event changes (pushing ``feed.updated``, except for
    :data:`SILENT_EVENTS`).

    - post events and ``content_score.updated``: the author and all the author's friends;
    - ``friendship.accepted``: both users (``from_user_id``, ``to_user_id``);
    - ``friendship.removed``: ``user_id`` and ``friend_id``;
    - ``user.blocked``: ``blocker_id`` and ``blocked_id``.

    Returns:
        The user ids invalidated (sorted); ``[]`` for other types.
    """
    if event_type in AUTHOR_EVENTS:
        author = data["author_id"]
        return feed_invalidate(user_ids=[author, *graph_selectors.friend_ids(author)],
                               push=event_type not in SILENT_EVENTS)
    pairs = {
        "friendship.accepted": ("from_user_id", "to_user_id"),
        "friendship.removed": ("user_id", "friend_id"),
        "user.blocked": ("blocker_id", "blocked_id"),
    }
    if event_type in pairs:
        return feed_invalidate(user_ids=[data[name] for name in pairs[event_type]])
    return []
