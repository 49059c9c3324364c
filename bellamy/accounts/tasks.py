"""Tasks of the account lifecycle (queue ``default``): the erasure sweep (beat) and the
accounts' own handler of ``user.deleted`` (presence and the user's throttle histories).

Every store that holds a user has its own ``user.deleted`` handler in its app (routes:
``LIFECYCLE_ROUTES`` in ``bellamy/events/routes.py``).
"""

from __future__ import annotations

from bellamy.caching import cache_delete_matching
from bellamy.celery import app
from bellamy.events.envelope import Envelope
from bellamy.events.idempotency import batch_task
from bellamy.accounts import lifecycle
from bellamy.realtime.presence import get_presence


@app.task(name="accounts.erase_due_accounts_task")
def erase_due_accounts_task() -> dict[str, list[int]]:
    """Beat task: erase the accounts whose deletion is due (``user.deleted`` each), then finish
    the erasures whose every store has handled it (the husk rows are deleted).

    Returns:
        ``{"erased": [user ids], "completed": [user ids]}``.
    """
    return {"erased": lifecycle.accounts_erase_due(), "completed": lifecycle.account_erasures_complete()}


def throttle_key_patterns(user_id: int) -> list[str]:
    """Cache-key patterns of DRF's throttle histories of a signed-in user
    (``throttle_<scope>_<user id>``)."""
    return [f"throttle_*_{user_id}"]


@batch_task("accounts.user_deleted_task")
def user_deleted_task(envelopes: list[Envelope]) -> dict:
    """``user.deleted`` ``{user_id}`` → forget the users' presence (sockets key and online
    member in Redis) and their throttle histories in the cache. Sockets were closed by the
    erasure itself.

    Returns:
        ``{"users": n, "cache_keys": keys deleted}``.
    """
    user_ids = sorted({int(envelope.data["user_id"]) for envelope in envelopes})
    presence = get_presence()
    deleted = 0
    for user_id in user_ids:
        presence.forget(user_id)
        deleted += cache_delete_matching(throttle_key_patterns(user_id))
    return {"users": len(user_ids), "cache_keys": deleted}
