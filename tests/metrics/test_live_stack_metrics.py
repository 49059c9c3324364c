"""``/metrics`` of the production stack after real traffic: two web processes, a Celery worker
and the forwarder count into one directory, and one scrape shows every family with exactly the
counts the traffic produced.

Ground truth comes from elsewhere than the counters: the outbox rows and the routing table (events
and task runs), the frames the two open sockets really received (pushes), the requests this test
made, and Kafka, Redis and presence themselves. Traffic: alice and bob (friends, both connected)
— alice posts, bob reads his feed twice; dave sends carol (offline) a friend request; a socket
with a bad token is refused; one garbage record is written to an event topic.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx
import pytest
import websockets
from django.urls import resolve
from rest_framework_simplejwt.tokens import AccessToken

from bellamy.config import namespace_settings
from bellamy.events import routes
from bellamy.events.models import OutboxEvent, ProcessedEvent
from bellamy.events.registry import DEAD_LETTER_TOPIC, all_topics, topic_for
from tests.conftest import service_unavailable
from tests.live_stack import LiveStack
from tests.metrics.helpers import delete_kafka_names, parse

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUEUES = ("scoring", "graph", "notifications", "trends", "default")


@pytest.fixture
def live_stack():
    # Scrape-time figures read afresh on every scrape (no caching) so the test sees them settle.
    # Two web processes: sockets, requests and scrapes land on either; both read one directory.
    stack = LiveStack(web_processes=2,
                      extra_env={"BELLAMY_METRICS_CACHE_SECONDS": "0", "BELLAMY_METRICS_SCRAPE_TIMEOUT": "5"})
    try:
        stack.start()
    except RuntimeError as exc:
        stack.stop()
        service_unavailable("the production stack", exc)
    yield stack
    stack.stop()
    names = namespace_settings(stack.env["BELLAMY_NAMESPACE"])
    delete_kafka_names(names["BELLAMY_TOPIC_PREFIX"], names["BELLAMY_FORWARDER_GROUP"])


def labels(**pairs) -> frozenset:
    return frozenset(pairs.items())


def test_a_scrape_after_real_traffic_shows_the_exact_counts(live_stack, user_factory, befriend):
    alice, bob, carol, dave = (user_factory(username=n) for n in ("alice", "bob", "carol", "dave"))
    befriend(alice, bob)
    names = namespace_settings(live_stack.env["BELLAMY_NAMESPACE"])
    prefix, group = names["BELLAMY_TOPIC_PREFIX"], names["BELLAMY_FORWARDER_GROUP"]
    ws_url = live_stack.base_url.replace("http://", "ws://") + "/ws/"
    http = httpx.Client(base_url=live_stack.base_url, timeout=30)

    def scrape() -> dict:
        response = http.get("/metrics", headers={"Authorization": f"Bearer {live_stack.metrics_token}"})
        assert response.status_code == 200, response.text
        return parse(response.text)

    def settled(seen: dict) -> bool:
        """Nothing left anywhere: outbox, Kafka, Celery; every event task that ran was counted."""
        lags = seen.get("bellamy_kafka_consumer_lag", {})
        tasks = sum(seen.get("bellamy_celery_tasks_total", {}).values())
        return (bool(lags) and not any(lags.values())
                and seen["bellamy_outbox_unsent_events"] == {frozenset(): 0.0}
                and not any(seen["bellamy_celery_queue_length"].values())
                and seen["bellamy_celery_unacked_tasks"] == {frozenset(): 0.0}
                and tasks == ProcessedEvent.objects.count() > 0)

    def wait(condition, timeout=90.0) -> dict:
        deadline, quiet, seen = time.monotonic() + timeout, 0, {}
        while time.monotonic() < deadline:
            seen = scrape()
            quiet = quiet + 1 if condition(seen) else 0
            if quiet >= 3:
                return seen
            time.sleep(0.5)
        shown = ("bellamy_kafka_consumer_lag", "bellamy_outbox_unsent_events", "bellamy_celery_queue_length",
                 "bellamy_celery_unacked_tasks", "bellamy_celery_tasks_total", "bellamy_dead_letters_total",
                 "bellamy_websocket_connections", "bellamy_presence_online_users", "bellamy_metrics_collector_up")
        raise AssertionError(f"not settled in {timeout} s (ProcessedEvent {ProcessedEvent.objects.count()}): "
                             + "; ".join(f"{k} {dict(seen.get(k, {}))}" for k in shown))

    async def traffic() -> tuple[Counter, dict, dict]:
        frames: Counter = Counter()

        async def listen(socket):
            async for raw in socket:
                frames[json.loads(raw)["type"]] += 1

        async with websockets.connect(f"{ws_url}?token={AccessToken.for_user(alice)}") as a_socket, \
                websockets.connect(f"{ws_url}?token={AccessToken.for_user(bob)}") as b_socket:
            listeners = [asyncio.ensure_future(listen(a_socket)), asyncio.ensure_future(listen(b_socket))]
            async with websockets.connect(f"{ws_url}?token=not-a-token") as refused:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(refused.recv(), timeout=10)
                assert closed.value.rcvd.code == 4401
            connected = await asyncio.to_thread(
                wait, lambda s: s["bellamy_websocket_connections"] == {frozenset(): 2.0}
                and s["bellamy_presence_online_users"] == {frozenset(): 2.0})

            def act():
                posted = http.post(f"/api/Post/users/{alice.pk}", json={"content": "Hello #metrics"},
                                   headers={"Authorization": f"Bearer {AccessToken.for_user(alice)}"})
                assert posted.status_code == 201, posted.text
                requested = http.post("/api/friends/requests", json={"to_user_id": carol.pk},
                                      headers={"Authorization": f"Bearer {AccessToken.for_user(dave)}"})
                assert requested.status_code == 201, requested.text
                from kafka import KafkaProducer

                producer = KafkaProducer(bootstrap_servers=live_stack.env["BELLAMY_EVENTS_URL"][len("kafka://"):])
                producer.send(topic_for("post.created", prefix=prefix), value=b"not an envelope").get(timeout=10)
                producer.close()
                wait(lambda s: settled(s) and s["bellamy_dead_letters_total"] == {labels(source="forwarder"): 1.0})
                for _ in range(2):
                    feed = http.get("/api/feed/", headers={"Authorization": f"Bearer {AccessToken.for_user(bob)}"})
                    assert feed.status_code == 200, feed.text
                return wait(settled)

            final = await asyncio.to_thread(act)
            await asyncio.sleep(1.0)  # any frame still in flight
            for listener in listeners:
                listener.cancel()
        return frames, connected, final

    frames, connected, seen = asyncio.run(traffic())
    after_close = wait(lambda s: s["bellamy_websocket_connections"] in ({}, {frozenset(): 0.0})
                       and s["bellamy_presence_online_users"] == {frozenset(): 0.0})

    # --- events: one per outbox row, published once and consumed once, by type ---------------
    sent = Counter(OutboxEvent.objects.filter(sent_at__isnull=False).values_list("type", flat=True))
    assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 0
    assert sent["post.created"] == 1 and sent["friendship.requested"] == 1
    by_type = {labels(type=t): float(n) for t, n in sent.items()}
    assert seen["bellamy_events_published_total"] == by_type
    assert seen["bellamy_events_consumed_total"] == by_type
    assert "bellamy_events_publish_failures" in seen  # announced, nothing counted
    assert "bellamy_events_publish_failures_total" not in seen
    # --- tasks: every route of every event ran once, on its queue ------------------------------
    expected_runs = Counter((r.queue, r.task) for t, n in sent.items() for r in routes.ROUTES.get(t, ()) for _ in range(n))
    assert seen["bellamy_celery_tasks_total"] == {
        labels(queue=q, task=task, outcome="success"): float(n) for (q, task), n in expected_runs.items()}
    assert sum(expected_runs.values()) == ProcessedEvent.objects.count()
    assert seen["bellamy_celery_task_duration_seconds_count"] == {
        labels(queue=q, task=task): float(n) for (q, task), n in expected_runs.items()}
    per_queue = Counter()
    for (q, _task), n in expected_runs.items():
        per_queue[q] += n
    assert seen["bellamy_celery_task_wait_seconds_count"] == {labels(queue=q): float(n) for q, n in per_queue.items()}
    assert "bellamy_celery_task_retries" in seen and "bellamy_celery_task_retries_total" not in seen
    assert seen["bellamy_celery_queue_length"] == {labels(queue=q): 0.0 for q in QUEUES}
    assert seen["bellamy_celery_unacked_tasks"] == {frozenset(): 0.0}
    # --- dead letters: the garbage record, in the counter and in the topic ----------------------
    assert seen["bellamy_dead_letters_total"] == {labels(source="forwarder"): 1.0}
    dead_topic = topic_for(DEAD_LETTER_TOPIC, prefix=prefix)
    assert seen["bellamy_dead_letter_topic_messages"] == {labels(topic=dead_topic): 1.0}
    # --- consumer lag: every partition of every event topic, all caught up -----------------------
    lags = seen["bellamy_kafka_consumer_lag"]
    assert {dict(key)["topic"] for key in lags} == set(all_topics(prefix=prefix))
    assert {dict(key)["group"] for key in lags} == {group}
    assert set(lags.values()) == {0.0}
    # --- pushes: exactly the frames the two sockets received; carol's notification found her offline
    assert frames["notification.created"] >= 1
    assert seen["bellamy_pushes_sent_total"] == {labels(type=t): float(n) for t, n in frames.items()}
    assert seen["bellamy_pushes_offline_total"] == {labels(type="notification.created"): 1.0}
    assert "bellamy_pushes_dropped" in seen and "bellamy_pushes_dropped_total" not in seen  # nothing lost
    # --- sockets: two open while connected, one refused; none after closing ---------------------
    assert connected["bellamy_websocket_connections"] == {frozenset(): 2.0}
    assert connected["bellamy_presence_online_users"] == {frozenset(): 2.0}
    assert seen["bellamy_websocket_connects_total"] == {labels(outcome="accepted"): 2.0,
                                                        labels(outcome="rejected"): 1.0}
    assert after_close["bellamy_websocket_connections"] in ({}, {frozenset(): 0.0})
    # --- cache: bob's first feed page missed, the second was served from the cache ---------------
    assert seen["bellamy_cache_requests_total"] == {labels(cache="feed_page", result="miss"): 1.0,
                                                    labels(cache="feed_page", result="hit"): 1.0}
    # --- requests by URL pattern (the scrapes themselves are not counted) ------------------------
    requests = seen["bellamy_http_requests_total"]
    post_route = resolve(f"/api/Post/users/{alice.pk}").route
    assert requests[labels(method="POST", route=post_route, status="201")] == 1.0
    assert requests[labels(method="POST", route="api/friends/requests", status="201")] == 1.0
    assert requests[labels(method="GET", route="api/feed/", status="200")] == 2.0
    assert {dict(key)["route"] for key in requests} == {post_route, "api/friends/requests", "api/feed/", "healthz"}
    assert seen["bellamy_http_request_duration_seconds_count"][labels(method="GET", route="api/feed/")] == 2.0
    # --- every scrape-time source answered -------------------------------------------------------
    assert seen["bellamy_metrics_collector_up"] == {labels(collector=c): 1.0
                                                    for c in ("kafka", "celery", "presence", "outbox")}
    assert seen["bellamy_outbox_unsent_events"] == {frozenset(): 0.0}
