"""Benchmark: events per second through publish → outbox → Kafka → forwarder → no-op task.

Baseline in the same run: raw kafka-python producing the same messages (``acks=all``) to a
3-partition topic while a consumer in a fresh group reads them. Printed: throughput of each,
the ratio pipeline / raw, and the latency from commit to task start (p50/p95/max).

The pipeline is measured twice: one event per transaction (a request that posts once) and
100 events per transaction (a bulk import). The no-op task keeps the idempotency record, as
every real task does. Run: ``.venv/bin/python bench/events_pipeline.py [--events N]``
with the services of ``bin/services`` running.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

from _common import Timer, emit, percentile, print_table, setup_django


def run(events: int = 2000) -> dict:
    """Measure and return ``{"raw": {...}, "pipeline_1": {...}, "pipeline_100": {...}}``."""
    from django.conf import settings
    from django.db import transaction

    from bellamy.backends import reset_backend
    from bellamy.events import routes
    from bellamy.events.forwarder import Forwarder
    from bellamy.events.idempotency import event_task
    from bellamy.events.services import publish

    servers = ["127.0.0.1:9092"]
    started: dict[str, float] = {}

    @event_task(name="bench.noop_task")
    def noop_task(envelope):
        started[envelope.id] = time.perf_counter()

    routes.ROUTES = {"post.created": (routes.Route("bench.noop_task", "default"),)}
    results = {"raw": _raw_kafka(servers, events)}

    for per_tx in (1, 100):
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        settings.BELLAMY_TOPIC_PREFIX = prefix
        settings.BELLAMY_EVENTS = {
            "BACKEND": "bellamy.events.backends.kafka.KafkaBus",
            "OPTIONS": {"bootstrap_servers": servers, "topic_prefix": prefix},
        }
        reset_backend()
        from bellamy.backends import get_backend

        get_backend("BELLAMY_EVENTS").ensure_topics()
        started.clear()
        forwarder = Forwarder(bootstrap_servers=servers, group_id=f"{prefix}group", topic_prefix=prefix,
                              session_timeout_ms=6000, poll_timeout_ms=100)
        thread = threading.Thread(target=forwarder.run, kwargs={"run_for": 600}, daemon=True)
        thread.start()
        while not forwarder.assigned:
            time.sleep(0.05)
        committed: dict[str, float] = {}
        with Timer() as total:
            for start in range(0, events, per_tx):
                with transaction.atomic():
                    ids = [publish("post.created", key=n % 50, data={"post_id": n, "author_id": n % 50}).id
                           for n in range(start, min(events, start + per_tx))]
                now = time.perf_counter()  # the after-commit relay has run by now
                committed.update(dict.fromkeys(ids, now))
            while len(started) < events:
                time.sleep(0.01)
        forwarder.stop()
        thread.join(timeout=30)
        latencies = [started[i] - committed[i] for i in committed]
        results[f"pipeline_{per_tx}"] = {
            "events": events, "seconds": total.seconds, "per_second": events / total.seconds,
            "latency_p50_ms": percentile(latencies, 50) * 1000, "latency_p95_ms": percentile(latencies, 95) * 1000,
            "latency_max_ms": max(latencies) * 1000,
        }
    return results


def _raw_kafka(servers: list[str], events: int) -> dict:
    from kafka import KafkaConsumer, KafkaProducer

    from bellamy.events.backends.kafka import ensure_topics
    from bellamy.events.envelope import Envelope

    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    ensure_topics(servers, [topic])
    payloads = [(str(n % 50).encode(), Envelope(type="post.created", key=str(n % 50),
                                              data={"post_id": n, "author_id": n % 50}).encode())
                for n in range(events)]
    consumer = KafkaConsumer(topic, bootstrap_servers=servers, group_id=f"{topic}-group",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    while not consumer.assignment():
        consumer.poll(timeout_ms=100)
    received = 0
    done = threading.Event()

    def consume():
        nonlocal received
        while received < events:
            for records in consumer.poll(timeout_ms=100).values():
                received += len(records)
            consumer.commit()
        done.set()

    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=2)
    thread = threading.Thread(target=consume, daemon=True)
    with Timer() as total:
        thread.start()
        for key, value in payloads:
            producer.send(topic, key=key, value=value)
        producer.flush()
        done.wait(timeout=300)
    producer.close()
    consumer.close()
    return {"events": events, "seconds": total.seconds, "per_second": events / total.seconds}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    setup_django()
    results = run(args.events)
    raw = results["raw"]["per_second"]
    rows = [("raw kafka-python produce+consume", results["raw"]["per_second"], 1.0, "", "", "")]
    for name, label in (("pipeline_1", "pipeline, 1 event / transaction"),
                        ("pipeline_100", "pipeline, 100 events / transaction")):
        r = results[name]
        rows.append((label, r["per_second"], r["per_second"] / raw, r["latency_p50_ms"],
                     r["latency_p95_ms"], r["latency_max_ms"]))
    print_table(f"Event pipeline, {args.events} events", rows,
                ("path", "events/s", "ratio vs raw", "commit→task p50 ms", "p95 ms", "max ms"))
    emit(results)
    return results


if __name__ == "__main__":
    main()
