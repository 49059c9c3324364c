"""Services that react to events by invalidating feed caches (and pushing ``feed.updated``).

Called by ``feed.invalidate_feeds_task`` on the ``default`` queue (routes in
``bellamy/events/routes.py``) with a batch of events, so they always run after the changes were
committed. A batch costs a constant number of round trips whatever its size: one query for the
friends of every author of the batch, one ``set_many`` for every version bump, one round trip to
find the viewers due a push (:func:`feed.cache.feed_push_due`) and one push call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bellamy.accounts.selectors import active_user_ids, live_user_ids
from bellamy.events.envelope import Envelope
from bellamy.realtime.services import push_to_users
from feed.cache import feed_push_due, feed_versions_bump
from graph import selectors as graph_selectors

#: Event types whose data carries the post author (``author_id``): the author's and every
#: friend's feed may show the post.
AUTHOR_EVENTS = ("post.created", "post.updated", "post.deleted", "post.moderated", "content_score.updated")
#: Event types naming the two users whose feeds change, and the ``data`` fields naming them.
PAIR_EVENTS = {
    "friendship.accepted": ("from_user_id", "to_user_id"),
    "friendship.removed": ("user_id", "friend_id"),
    "user.blocked": ("blocker_id", "blocked_id"),
}


#: Event types that invalidate feeds without a ``feed.updated`` push: the friends learn of a
#: new post from its ``notification.created`` (one frame per post and friend, README "Real time").
SILENT_EVENTS = ("post.created",)


def feed_invalidate(*, user_ids: Iterable[int], push_to: Iterable[int] | None = None) -> list[int]:
    """Invalidate the cached feeds of ``user_ids`` (one round trip) and push
    ``{"type": "feed.updated"}`` to those of them (only those also in ``push_to``, when given)
    who are online and were not pushed one in the last :data:`feed.cache.PUSH_INTERVAL` seconds.
    Erased accounts are skipped (one query): an event still queued when an account was erased
    must not write its version key back.

    Returns:
        The distinct user ids invalidated, sorted.
    """
    bumped = feed_versions_bump(live_user_ids(user_ids))
    due = feed_push_due(bumped if push_to is None else set(bumped) & set(push_to))
    if due:
        push_to_users(due, {"type": "feed.updated"})
    return bumped


def affected_viewers(events: Sequence[Envelope]) -> set[int]:
    """The users whose feeds ``events`` change:

    - post events and ``content_score.updated``: the author and all the author's friends
      (one query for every author of the batch);
    - ``friendship.accepted``: both users (``from_user_id``, ``to_user_id``);
    - ``friendship.removed``: ``user_id`` and ``friend_id``;
    - ``user.blocked``: ``blocker_id`` and ``blocked_id``;
    - other types: nobody.
    """
    authors = {int(e.data["author_id"]) for e in events if e.type in AUTHOR_EVENTS}
    viewers = set(authors)
    for friends in graph_selectors.friend_ids_by_user(authors).values():
        viewers |= friends
    for event in events:
        fields = PAIR_EVENTS.get(event.type)
        if fields:
            viewers.update(int(event.data[name]) for name in fields)
    return viewers


def feed_invalidate_for_events(*, events: Sequence[Envelope]) -> list[int]:
    """Invalidate the feeds a batch of events changes (:func:`affected_viewers`) in one bump,
    and push ``feed.updated`` as :func:`feed_invalidate` does to the viewers of the events
    other than :data:`SILENT_EVENTS` (a new post alone pushes no ``feed.updated``).

    Returns:
        The user ids invalidated, sorted (``[]`` when no event changes a feed).
    """
    viewers = affected_viewers(events)
    if not viewers:
        return []
    loud = [e for e in events if e.type not in SILENT_EVENTS]
    return feed_invalidate(user_ids=viewers, push_to=affected_viewers(loud) if loud else ())


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
