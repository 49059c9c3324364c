"""``/healthz`` and ``/readyz`` (API.md "Operations")."""

import pytest

from tests.conftest import MONGO_URL, NEO4J_URL

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_ok_when_every_configured_backend_answers(client):
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (
        200,
        {"checks": {"database": "ok", "cache": "ok", "events": "ok", "notifications": "ok", "graph": "ok"}},
    )


@pytest.mark.services
def test_readyz_ok_on_the_real_mongodb_and_neo4j(client, settings):
    settings.BELLAMY_NOTIFICATIONS = {
        "BACKEND": "notifications.stores.mongo.MongoNotificationStore",
        "OPTIONS": {"url": MONGO_URL, "database": "bellamy_readyz"},
    }
    settings.BELLAMY_GRAPH = {"BACKEND": "graph.stores.neo4j.Neo4jGraphStore", "OPTIONS": {"url": NEO4J_URL}}
    response = client.get("/readyz")
    assert (response.status_code, response.json()["checks"]["notifications"], response.json()["checks"]["graph"]) == (
        200, "ok", "ok",
    )


def test_readyz_503_names_the_backend_that_is_down(client, settings):
    # Given a notification store URL where nothing listens, when probed, then 503 names it
    # and every other check still reports ok.
    settings.BELLAMY_NOTIFICATIONS = {
        "BACKEND": "notifications.stores.mongo.MongoNotificationStore",
        "OPTIONS": {"url": "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300", "database": "x"},
    }
    response = client.get("/readyz")
    checks = response.json()["checks"]
    assert response.status_code == 503
    assert checks["notifications"].startswith("ServerSelectionTimeoutError: 127.0.0.1:1")
    assert {k: v for k, v in checks.items() if k != "notifications"} == {
        "database": "ok", "cache": "ok", "events": "ok", "graph": "ok",
    }


def test_readyz_503_when_kafka_is_unreachable(client, settings):
    settings.BELLAMY_EVENTS = {
        "BACKEND": "bellamy.events.backends.kafka.KafkaBus",
        "OPTIONS": {"bootstrap_servers": ["127.0.0.1:1"], "topic_prefix": ""},
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["events"] == (
        "KafkaTimeoutError: KafkaTimeoutError: Unable to bootstrap from ['127.0.0.1:1']"
    )


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Bellamy Book API"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_unknown_path_is_a_json_404(client):
    response = client.get("/api/posts/not-a-number")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
