"""Read-replica routing with read-your-writes (ARCHITECTURE.md §6).

When ``DATABASE_REPLICA_URL`` is set, reads made inside :func:`replica_reads` (the feed,
trends and suggestion views) go to the ``replica`` alias — unless the same user wrote
something in the last :data:`READ_YOUR_WRITES_SECONDS` seconds, whose reads stay on the
primary so they always see their own post, like or friendship. Writes always go to the
primary. :class:`PinAfterWriteMiddleware` records the writes (any unsafe HTTP method).
"""

from __future__ import annotations

import contextlib
import contextvars

from django.conf import settings
from django.core.cache import cache

#: Seconds a user's reads stay on the primary after one of their writes.
READ_YOUR_WRITES_SECONDS = 5

_use_replica: contextvars.ContextVar[bool] = contextvars.ContextVar("bellamy_use_replica", default=False)


def _pin_key(user_id: int) -> str:
    return f"db:pinned:{user_id}"


def pin_to_primary(user_id: int) -> None:
    """Keep ``user_id``'s reads on the primary for :data:`READ_YOUR_WRITES_SECONDS` s."""
    cache.set(_pin_key(user_id), 1, READ_YOUR_WRITES_SECONDS)


@contextlib.contextmanager
def replica_reads(user):
    """Inside the block, ORM reads go to the replica, if one is configured and ``user`` has
    not written within :data:`READ_YOUR_WRITES_SECONDS` seconds."""
    use = "replica" in settings.DATABASES and not (
        getattr(user, "is_authenticated", False) and cache.get(_pin_key(user.pk))
    )
    token = _use_replica.set(use)
    try:
        yield use
    finally:
        _use_replica.reset(token)


class ReplicaRouter:
    """Django database router: reads inside :func:`replica_reads` → ``replica``; all else → default."""

    def db_for_read(self, model, **hints):
        return "replica" if _use_replica.get() else None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"


class PinAfterWriteMiddleware:
    """After an authenticated unsafe request (POST, PUT, PATCH, DELETE), pin the user to the primary."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (
            "replica" in settings.DATABASES
            and request.method not in ("GET", "HEAD", "OPTIONS")
            and getattr(user, "is_authenticated", False)
        ):
            pin_to_primary(user.pk)
        return response
