"""Fixtures of the metrics tests: a private Celery broker prefix and private Kafka names on the
real services."""

from __future__ import annotations

import itertools

import pytest
import redis

from tests.conftest import SESSION_TAG, service_unavailable
from tests.metrics.helpers import KAFKA_SERVERS, delete_kafka_names

_counter = itertools.count()


@pytest.fixture
def broker(settings):
    """Celery on the test Redis with a private key prefix (deleted afterwards)."""
    prefix = f"t{SESSION_TAG}{next(_counter)}:celery:"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": prefix}
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_unavailable("Redis", exc)
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def kafka(settings):
    """The Kafka bus on the test broker with a private topic prefix and forwarder group; yields
    the prefix, then deletes those topics and that group."""
    from kafka import KafkaAdminClient

    try:
        KafkaAdminClient(bootstrap_servers=KAFKA_SERVERS, request_timeout_ms=5000).close()
    except Exception as exc:
        service_unavailable("Kafka", exc)
    prefix = f"m{SESSION_TAG}{next(_counter)}."
    settings.BELLAMY_TOPIC_PREFIX = prefix
    settings.BELLAMY_FORWARDER_GROUP = group = f"{prefix}forwarder"
    settings.BELLAMY_EVENTS = {"BACKEND": "bellamy.events.backends.kafka.KafkaBus",
                               "OPTIONS": {"bootstrap_servers": KAFKA_SERVERS, "topic_prefix": prefix}}
    yield prefix
    delete_kafka_names(prefix, group)
