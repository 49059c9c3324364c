"""One real round trip per service, through the clients the product uses.

These talk to the servers ``bin/services`` starts; under ``BELLAMY_REQUIRE_SERVICES=1`` a
server that does not answer fails the test.
"""

import uuid

import psycopg
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from pymongo import ASCENDING, MongoClient
from pymongo.errors import DuplicateKeyError

from tests.conftest import (
    KAFKA_URL, MONGO_URL, NEO4J_URL, POSTGRES_URL, REDIS_TEST_URL, SESSION_TAG, service_unavailable,
)

pytestmark = pytest.mark.services


def test_postgresql_query():
    try:
        connection = psycopg.connect(POSTGRES_URL.replace("postgres://", "postgresql://"), connect_timeout=5)
    except psycopg.OperationalError as exc:
        service_unavailable("PostgreSQL", exc)
    with connection:
        row = connection.execute("SELECT 6 * 7, current_setting('server_version_num')::int / 10000").fetchone()
    assert row == (42, 15)


def test_redis_set_get():
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
    key = f"roundtrip:{SESSION_TAG}"
    try:
        client.set(key, "bellamy", ex=30)
    except redis.ConnectionError as exc:
        service_unavailable("Redis", exc)
    assert client.get(key) == b"bellamy"
    client.delete(key)


def test_kafka_produce_and_consume_in_a_fresh_group():
    servers = KAFKA_URL.removeprefix("kafka://").split(",")
    topic = f"roundtrip-{SESSION_TAG}-{uuid.uuid4().hex[:6]}"
    try:
        admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=5000)
    except Exception as exc:
        service_unavailable("Kafka", exc)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    for i in range(3):
        producer.send(topic, key=b"k", value=f"message-{i}".encode())
    producer.flush(timeout=10)
    producer.close()
    consumer = KafkaConsumer(
        topic, bootstrap_servers=servers, group_id=f"roundtrip-{uuid.uuid4().hex}",
        auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=10000,
    )
    values = []
    for record in consumer:
        values.append(record.value)
        if len(values) == 3:
            break
    consumer.close()
    assert values == [b"message-0", b"message-1", b"message-2"]


def test_mongodb_insert_find_and_unique_index_violation():
    client = MongoClient(MONGO_URL, serverSelectionTimeoutMS=3000)
    try:
        client.admin.command("ping")
    except Exception as exc:
        service_unavailable("MongoDB server", exc)
    collection = client[f"roundtrip_{SESSION_TAG}"]["things"]
    collection.create_index([("event_id", ASCENDING), ("recipient", ASCENDING)], unique=True)
    collection.insert_one({"event_id": "e1", "recipient": 7, "text": "hello"})
    found = collection.find_one({"event_id": "e1"}, {"_id": 0})
    with pytest.raises(DuplicateKeyError) as duplicate:
        collection.insert_one({"event_id": "e1", "recipient": 7, "text": "again"})
    count = collection.count_documents({})
    client.drop_database(f"roundtrip_{SESSION_TAG}")
    assert (found, duplicate.value.code, count) == ({"event_id": "e1", "recipient": 7, "text": "hello"}, 11000, 1)


def test_neo4j_create_and_match_through_neomodel():
    from neomodel import db

    db.set_connection(url=NEO4J_URL)
    marker = f"roundtrip-{uuid.uuid4().hex}"
    try:
        db.cypher_query(
            "CREATE (:RoundTrip {marker: $marker, n: 1})-[:KNOWS]->(:RoundTrip {marker: $marker, n: 2})",
            {"marker": marker},
        )
    except Exception as exc:
        service_unavailable("Neo4j", exc)
    rows, _ = db.cypher_query(
        "MATCH (a:RoundTrip {marker: $marker})-[:KNOWS]->(b:RoundTrip) RETURN a.n, b.n", {"marker": marker}
    )
    db.cypher_query("MATCH (n:RoundTrip {marker: $marker}) DETACH DELETE n", {"marker": marker})
    db.close_connection()
    assert rows == [[1, 2]]
