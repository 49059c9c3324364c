"""Services that react to events by invalidating feed caches (and pushing ``feed.updated``).

Called by the ``feed.*`` tasks on the ``default`` queue (routes in ``bellamy/events/routes.py``),
so they always run after the change was committed.
"""

from __future__ import annotations

from bellamy.accounts.selectors import active_user_ids, live_user_ids
from bellamy.realtime.services import push_to_users
from feed.cache import feed_versions_bump
from graph import selectors as graph_selectors

#: Event types whose data carries the post author (``author_id``): the author's and every
#: friend's feed may show the post.
AUTHOR_EVENTS = ("post.created", "post.updated", "post.deleted", "post.moderated", "content_score.updated")


def feed_invalidate(*, user_ids: list[int]) -> list[int]:
    """Invalidate the cached feeds of ``user_ids`` and push ``{"type": "feed.updated"}`` to
    those of them who are online. Erased accounts are skipped (one query): an event still
    queued when an account was erased must not write its version key back.

    Returns:
        The distinct user ids invalidated, sorted.
    """
    bumped = feed_versions_bump(live_user_ids(user_ids))
    push_to_users(bumped, {"type": "feed.updated"})
    return bumped


def feed_invalidate_for_event(*, event_type: str, data: dict) -> list[int]:
    """Invalidate the feeds an event changes.

    - post events and ``content_score.updated``: the author and all the author's friends;
    - ``friendship.accepted``: both users (``from_user_id``, ``to_user_id``);
    - ``friendship.removed``: ``user_id`` and ``friend_id``;
    - ``user.blocked``: ``blocker_id`` and ``blocked_id``.

    Returns:
        The user ids invalidated (sorted); ``[]`` for other types.
    """
    if event_type in AUTHOR_EVENTS:
        author = data["author_id"]
        return feed_invalidate(user_ids=[author, *graph_selectors.friend_ids(author)])
    pairs = {
        "friendship.accepted": ("from_user_id", "to_user_id"),
        "friendship.removed": ("user_id", "friend_id"),
        "user.blocked": ("blocker_id", "blocked_id"),
    }
    if event_type in pairs:
        return feed_invalidate(user_ids=[data[name] for name in pairs[event_type]])
    return []


def feed_invalidate_for_users(*, user_ids: list[int]) -> list[int]:
    """``user.deactivated`` / ``user.reactivated``: the users' posts left or came back to their
    friends' feeds, and to their own when they are active again; invalidate those feeds (one
    friends query per user). A user who is inactive now is left out: nobody reads their feed
    (and nothing is pushed to a socket about to close); it is bumped when they come back.

    Returns:
        The user ids invalidated, sorted.
    """
    users = {int(uid) for uid in user_ids}
    viewers = active_user_ids(users)
    for user_id in sorted(users):
        viewers.update(graph_selectors.friend_ids(user_id))
    return feed_invalidate(user_ids=sorted(viewers))
