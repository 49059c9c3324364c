"""One deployment's view of the shared servers, for tests/deploy/test_namespaces.py.

``python tests/deploy/namespace_probe.py write`` (in a process whose environment names a
namespace) writes one item through each production backend — a cache key, a presence entry, a
channel-layer message, a Celery task message, a Kafka event and a MongoDB notification — and
prints what it wrote as JSON. ``... read`` prints, as JSON, what this deployment can see of the
same names: the test compares the two deployments' views.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bellamy.settings")

import django  # noqa: E402

django.setup()

from channels.layers import get_channel_layer  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402

from bellamy.backends import get_backend  # noqa: E402
from bellamy.celery import app  # noqa: E402
from bellamy.events.envelope import Envelope  # noqa: E402
from bellamy.events.registry import topic_for  # noqa: E402
from bellamy.realtime.presence import get_presence  # noqa: E402
from notifications.stores.base import FRIEND_POSTED, NewNotification  # noqa: E402

RECIPIENT = 4242
CHANNEL = "namespace.probe"


def names() -> dict:
    return {"namespace": settings.BELLAMY_NAMESPACE, "key_prefix": settings.BELLAMY_KEY_PREFIX,
            "topic_prefix": settings.BELLAMY_TOPIC_PREFIX, "group": settings.BELLAMY_FORWARDER_GROUP,
            "mongo_database": settings.BELLAMY_MONGO_DATABASE}


def write(user_id: int) -> dict:
    marker = uuid.uuid4().hex
    cache.set("namespace-probe", marker, 300)
    get_presence().touch(user_id, f"probe!{marker}")
    asyncio.run(get_channel_layer().send(CHANNEL, {"type": "probe", "marker": marker}))
    task_id = app.send_task("probe.namespace_task", args=[marker], queue="default").id
    envelope = Envelope(type="post.created", key=str(user_id), data={"post_id": 1, "marker": marker})
    errors = get_backend("BELLAMY_EVENTS").send_many([envelope])
    assert errors == [None], errors
    store = get_backend("BELLAMY_NOTIFICATIONS")
    store.add_many([NewNotification(recipient_id=RECIPIENT, type=FRIEND_POSTED, event_id=envelope.id,
                                    actor_id=user_id, created_at=datetime.now(UTC), post_id=1)])
    return {**names(), "cache": marker, "online": [user_id], "channel": marker, "task": task_id,
            "event": envelope.id, "notification": envelope.id}


async def _receive() -> str | None:
    try:
        message = await asyncio.wait_for(get_channel_layer().receive(CHANNEL), timeout=2)
    except TimeoutError:
        return None
    return message["marker"]


def _tasks() -> list[str]:
    ids = []
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("default")
        while True:
            try:
                message = queue.get(timeout=1)
            except queue.Empty:
                break
            ids.append(message.headers["id"])
            message.ack()
        queue.close()
    return ids


def _events() -> list[str]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic_for("post.created"), bootstrap_servers=settings.BELLAMY_EVENTS["OPTIONS"]["bootstrap_servers"],
        auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000,
    )
    try:
        return [json.loads(record.value)["id"] for record in consumer]
    finally:
        consumer.close()


def read(user_ids: list[int]) -> dict:
    store = get_backend("BELLAMY_NOTIFICATIONS")
    return {
        **names(),
        "cache": cache.get("namespace-probe"),
        "online": sorted(get_presence().online(user_ids)),
        "channel": asyncio.run(_receive()),
        "tasks": _tasks(),
        "events": _events(),
        "notifications": [record.event_id for record in store.list_for(RECIPIENT, limit=10)[0]],
    }


if __name__ == "__main__":
    if sys.argv[1] == "write":
        print(json.dumps(write(int(sys.argv[2]))))
    else:
        print(json.dumps(read([int(u) for u in sys.argv[2].split(",")])))
