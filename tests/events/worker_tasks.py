"""Test-only batch tasks run by real worker processes (``celery worker --include
tests.events.worker_tasks``), coordinated with the test through Redis keys under the worker's
``BELLAMY_KEY_PREFIX`` (the test's :func:`~tests.events.conftest.celery_broker` prefix).

Each task's effect is a database write in the task's transaction: one outbox row
``relationship_weight.updated`` per envelope, ``data = {"source": <event id>, "task": <name>}``.
"""

import os
import time

import redis
from django.conf import settings

from bellamy.events.idempotency import batch_task
from bellamy.events.services import publish
from tests.conftest import REDIS_TEST_URL

GATED_TASK = "tests.gated_effect_task"
FLAKY_TASK = "tests.fails_unless_allowed_task"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_TEST_URL)


def key(name: str, prefix: str | None = None) -> str:
    """The coordination key ``name`` under the worker's (or the given) key prefix."""
    return f"{prefix or settings.BELLAMY_KEY_PREFIX}:test:{name}"


def _effect(envelope, task: str) -> None:
    publish("relationship_weight.updated", key=0, data={"source": envelope.id, "task": task})


@batch_task(name=GATED_TASK)
def gated_effect_task(envelopes):
    """Write the effects, report ``"<pid>"`` on list ``inside``, then wait (up to 120 s) for the
    key ``gate`` before returning: the test kills the worker while it waits, mid-transaction."""
    for envelope in envelopes:
        _effect(envelope, GATED_TASK)
    client = _redis()
    client.rpush(key("inside"), str(os.getpid()))
    deadline = time.monotonic() + 120
    while not client.exists(key("gate")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(envelopes)


@batch_task(name=FLAKY_TASK)
def fails_unless_allowed_task(envelopes):
    """Write the effects; raise ``ValueError`` for an envelope whose data has ``"fail": true``
    unless the key ``allow`` exists (the "fix" deployed before a replay)."""
    allowed = _redis().exists(key("allow"))
    for envelope in envelopes:
        if envelope.data.get("fail") and not allowed:
            raise ValueError(f"cannot handle event {envelope.id}")
        _effect(envelope, FLAKY_TASK)
    return len(envelopes)
