"""Namespaces: two deployments on one Redis, one Kafka and one MongoDB never see each other's
data. Each deployment is a real process whose only difference is ``BELLAMY_NAMESPACE``; the
names it derives (key prefix, topic prefix, consumer group, MongoDB database) are also checked
as a pure function, with the overrides."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from bellamy.config import namespace_settings
from tests.conftest import KAFKA_URL, MONGO_URL

PROBE = Path(__file__).with_name("namespace_probe.py")


class TestDerivedNames:
    def test_unset_keeps_the_historical_names(self):
        assert namespace_settings("") == {
            "BELLAMY_NAMESPACE": "bellamy", "BELLAMY_KEY_PREFIX": "bellamy", "BELLAMY_TOPIC_PREFIX": "",
            "BELLAMY_FORWARDER_GROUP": "bellamy-forwarder", "BELLAMY_MONGO_DATABASE": "bellamy",
        }

    def test_a_namespace_derives_every_name(self):
        assert namespace_settings("demo") == {
            "BELLAMY_NAMESPACE": "demo", "BELLAMY_KEY_PREFIX": "demo", "BELLAMY_TOPIC_PREFIX": "demo.",
            "BELLAMY_FORWARDER_GROUP": "demo-forwarder", "BELLAMY_MONGO_DATABASE": "demo",
        }

    def test_each_name_stays_overridable_and_empty_means_derived(self):
        assert namespace_settings("demo", key_prefix="k", topic_prefix="", forwarder_group="g",
                                  mongo_database="") == {
            "BELLAMY_NAMESPACE": "demo", "BELLAMY_KEY_PREFIX": "k", "BELLAMY_TOPIC_PREFIX": "demo.",
            "BELLAMY_FORWARDER_GROUP": "g", "BELLAMY_MONGO_DATABASE": "demo",
        }

    @pytest.mark.parametrize("bad", ["9lives", "has-dash", "has.dot", "a b", "x" * 49])
    def test_a_name_unusable_on_some_server_is_refused(self, bad):
        with pytest.raises(ImproperlyConfigured, match=r"BELLAMY_NAMESPACE=.*letters, digits or underscores"):
            namespace_settings(bad)


def run_probe(namespace: str, *args: str) -> dict:
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    server = redis.rsplit("/", 1)[0]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BELLAMY_", "CELERY_", "REDIS_"))},
        "DJANGO_SETTINGS_MODULE": "bellamy.settings",
        "DJANGO_SECRET_KEY": "namespace-probe-secret-key-not-for-production-0123",
        "BELLAMY_NAMESPACE": namespace,
        # The same database of the same servers for both deployments: only the namespace differs.
        "REDIS_URL": f"{server}/13",
        "CELERY_BROKER_URL": f"{server}/13",
        "BELLAMY_EVENTS_URL": KAFKA_URL,
        "BELLAMY_NOTIFICATIONS_URL": MONGO_URL,
        "BELLAMY_LOG_LEVEL": "ERROR",
    }
    result = subprocess.run([sys.executable, str(PROBE), *args], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def namespaces():
    tag = uuid.uuid4().hex[:8]
    pair = (f"nsa{tag}", f"nsb{tag}")
    yield pair
    from pymongo import MongoClient

    client = MongoClient(MONGO_URL, serverSelectionTimeoutMS=3000)
    for name in pair:
        client.drop_database(name)
    client.close()


@pytest.mark.services
@pytest.mark.slow
def test_two_namespaces_on_the_same_servers_never_see_each_others_data(namespaces):
    a, b = namespaces
    wrote_a = run_probe(a, "write", "101")
    wrote_b = run_probe(b, "write", "202")
    assert (wrote_a["key_prefix"], wrote_a["topic_prefix"], wrote_a["group"], wrote_a["mongo_database"]) == (
        a, f"{a}.", f"{a}-forwarder", a)
    seen_a = run_probe(a, "read", "101,202")
    seen_b = run_probe(b, "read", "101,202")
    for seen, wrote, own_user in ((seen_a, wrote_a, 101), (seen_b, wrote_b, 202)):
        assert seen["cache"] == wrote["cache"]
        assert seen["online"] == [own_user]
        assert seen["channel"] == wrote["channel"]
        assert seen["tasks"] == [wrote["task"]]
        assert seen["events"] == [wrote["event"]]
        assert seen["notifications"] == [wrote["notification"]]
