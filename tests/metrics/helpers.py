"""Reading expositions, and writing Kafka records and commits, in the metrics tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bellamy import metrics
from tests.conftest import KAFKA_URL

KAFKA_SERVERS = KAFKA_URL.removeprefix("kafka://").split(",")


def parse(text: str) -> dict[str, dict[frozenset, float]]:
    """An exposition as ``{sample name: {frozenset(label pairs): value}}``; every announced family
    also appears under its family name (with no samples when none was counted)."""
    result: dict[str, dict[frozenset, float]] = {}
    for family in text_string_to_metric_families(text):
        result.setdefault(family.name, {})
        for sample in family.samples:
            result.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return result


def value(name: str, **labels: str) -> float:
    """This process's current value of one sample (0 when it does not exist yet)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def produce_and_commit(records: list[tuple[str, int, int]], *, group: str, commits: dict[tuple[str, int], int]) -> None:
    """Write ``count`` records to each ``(topic, partition, count)`` of ``records`` (acknowledged
    by the broker), then commit ``{(topic, partition): offset}`` for consumer group ``group``,
    as a consumer of that group would."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.structs import OffsetAndMetadata, TopicPartition

    producer = KafkaProducer(bootstrap_servers=KAFKA_SERVERS, acks="all")
    try:
        for topic, partition, count in records:
            for i in range(count):
                producer.send(topic, value=f"r{i}".encode(), partition=partition).get(timeout=10)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=KAFKA_SERVERS, group_id=group, enable_auto_commit=False)
    try:
        consumer.commit({TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
                         for (topic, partition), offset in commits.items()})
    finally:
        consumer.close()


def delete_kafka_names(prefix: str, group: str | None = None) -> None:
    """Delete the topics under ``prefix`` and consumer group ``group``: a broker shared by many
    test runs keeps open files for every partition, and runs out of them if nobody cleans up.
    Best effort (a broker that is gone has nothing to clean)."""
    from kafka import KafkaAdminClient

    if not prefix:  # every topic of the broker would match
        raise ValueError("delete_kafka_names needs a non-empty topic prefix")
    try:
        admin = KafkaAdminClient(bootstrap_servers=KAFKA_SERVERS, request_timeout_ms=10000)
    except Exception:  # noqa: BLE001 — nothing reachable to clean
        return
    try:
        ours = [topic for topic in admin.list_topics() if topic.startswith(prefix)]
        if ours:
            admin.delete_topics(ours, raise_errors=False)
        if group:
            admin.delete_groups([group])
    except Exception:  # noqa: BLE001, S110 — cleanup must not fail the test that used them
        pass
    finally:
        admin.close()
