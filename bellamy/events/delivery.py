"""Keep a running task's message invisible on the Redis broker while its worker is alive.

With ``acks_late`` a delivered message stays in the broker, unacknowledged, until the task
returns. kombu's Redis transport records each delivery in a sorted set (``unacked_index``, score =
delivery time) and any worker hands out again a message older than the visibility timeout
(``BELLAMY_TASK_VISIBILITY_TIMEOUT``): that is how a task of a worker that died is redelivered.
A task that legitimately runs longer than the timeout — a large batch, or retries in place through
an outage — would be handed out a second time while still running. :func:`keep_visible` refreshes
the delivery's timestamp every third of the timeout from a thread of the process running the task
(as SQS's ChangeMessageVisibility does), so only a dead process's messages time out.

The index is kombu's own (its ``unacked_index_key`` transport option, behind the
``global_keyprefix``); the refresh uses ``ZADD XX`` so a message already acknowledged or restored
is never re-added. Other brokers, eager runs and direct calls are left alone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

_clients: dict[tuple[int, str], object] = {}
_clients_lock = threading.Lock()


def _client(url: str):
    """A Redis client for ``url``, one per process (pool processes fork after import)."""
    import redis

    key = (os.getpid(), url)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return client


def _index_key(options: dict) -> str:
    return f"{options.get('global_keyprefix', '')}{options.get('unacked_index_key', 'unacked_index')}"


@contextmanager
def keep_visible(task) -> Iterator[None]:
    """While the block runs, refresh the visibility of ``task``'s current delivery.

    Args:
        task: a bound Celery task, inside its run (``task.request`` is the current delivery).
    """
    request = task.request
    conf = task.app.conf
    tag = (request.properties or {}).get("delivery_tag") if not request.is_eager else None
    url = conf.broker_url if isinstance(conf.broker_url, str) else ""
    if not tag or not url.startswith(("redis://", "rediss://", "unix://")):
        yield
        return
    options = conf.broker_transport_options or {}
    period = max(0.5, float(options.get("visibility_timeout", 3600)) / 3)
    key = _index_key(options)
    done = threading.Event()

    def refresh() -> None:
        while not done.wait(period):
            try:
                _client(url).zadd(key, {tag: time.time()}, xx=True)
            except Exception as exc:  # the broker is unreachable: the message may be redelivered
                logger.warning("could not refresh the visibility of task %s: %s", request.id, exc)

    thread = threading.Thread(target=refresh, name=f"visibility-{request.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
