"""Backend choice from environment URLs (bellamy/config.py) and start-up refusal."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from bellamy import config

ROOT = Path(__file__).resolve().parent.parent


def test_unset_urls_choose_every_embedded_default(tmp_path):
    # Given no URL, when each part is configured, then each is the embedded default.
    assert config.databases("", "", base_dir=tmp_path) == {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(tmp_path / ".data" / "db.sqlite3"),
            "OPTIONS": {"timeout": 20},
        }
    }
    assert config.caches("", [], key_prefix="b")["default"]["BACKEND"] == (
        "django.core.cache.backends.locmem.LocMemCache"
    )
    assert config.channel_layers("", prefix="b") == {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }
    assert config.celery_broker("") == ("memory://localhost/", True)
    assert config.events_backend("", topic_prefix="") == {
        "BACKEND": "bellamy.events.backends.inprocess.InProcessBus",
        "OPTIONS": {},
    }
    assert config.notifications_backend("", database="bellamy") == {
        "BACKEND": "notifications.stores.orm.OrmNotificationStore",
        "OPTIONS": {},
    }
    assert config.graph_backend("") == {"BACKEND": "graph.stores.orm.OrmGraphStore", "OPTIONS": {}}


def test_production_urls_choose_every_production_backend(tmp_path):
    dbs = config.databases(
        "postgres://u:p@db:5432/app", "postgres://u:p@replica:5432/app", base_dir=tmp_path
    )
    assert (dbs["default"]["ENGINE"], dbs["default"]["HOST"], dbs["default"]["NAME"]) == (
        "django.db.backends.postgresql",
        "db",
        "app",
    )
    assert (dbs["replica"]["HOST"], dbs["replica"]["TEST"]) == ("replica", {"MIRROR": "default"})
    cache = config.caches("redis://r:6379/0", ["redis://r2:6379/0"], key_prefix="b")["default"]
    assert (cache["BACKEND"], cache["LOCATION"]) == (
        "django_redis.cache.RedisCache",
        ["redis://r:6379/0", "redis://r2:6379/0"],
    )
    assert config.channel_layers("redis://r:6379/0", prefix="b:asgi") == {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://r:6379/0", "socket_timeout": 10}], "prefix": "b:asgi"},
        }
    }
    assert config.celery_broker("redis://r:6379/1") == ("redis://r:6379/1", False)
    assert config.events_backend("kafka://k1:9092,k2:9092", topic_prefix="t.") == {
        "BACKEND": "bellamy.events.backends.kafka.KafkaBus",
        "OPTIONS": {"bootstrap_servers": ["k1:9092", "k2:9092"], "topic_prefix": "t."},
    }
    replica_set = "mongodb://m1:27017,m2:27017/?replicaSet=rs0&w=majority"
    assert config.notifications_backend(replica_set, database="bb") == {
        "BACKEND": "notifications.stores.mongo.MongoNotificationStore",
        "OPTIONS": {"url": replica_set, "database": "bb"},
    }
    assert config.graph_backend("bolt://neo4j:pw@n:7687") == {
        "BACKEND": "graph.stores.neo4j.Neo4jGraphStore",
        "OPTIONS": {"url": "bolt://neo4j:pw@n:7687"},
    }


@pytest.mark.parametrize(
    ("variable", "call"),
    [
        ("DATABASE_URL", lambda u: config.databases(u, "", base_dir=Path("/tmp"))),
        ("DATABASE_REPLICA_URL", lambda u: config.databases("", u, base_dir=Path("/tmp"))),
        ("REDIS_URL", lambda u: config.caches(u, [], key_prefix="b")),
        ("REDIS_REPLICA_URLS", lambda u: config.caches("redis://r", [u], key_prefix="b")),
        ("CELERY_BROKER_URL", config.celery_broker),
        ("BELLAMY_EVENTS_URL", lambda u: config.events_backend(u, topic_prefix="")),
        ("BELLAMY_NOTIFICATIONS_URL", lambda u: config.notifications_backend(u, database="b")),
        ("BELLAMY_GRAPH_URL", config.graph_backend),
    ],
)
def test_unknown_scheme_is_an_error_naming_the_variable(variable, call):
    # Given a URL with a scheme no backend serves, when configured, then the error names the
    # variable and the scheme, and hides the password.
    with pytest.raises(config.BackendURLError) as error:
        call("mysql://user:hunter2@host/db")
    message = str(error.value)
    assert message.startswith(f"{variable}='mysql://user:***@host/db': unknown URL scheme 'mysql'")
    assert "hunter2" not in message


@pytest.mark.parametrize("key", ["", "change-me", "django-insecure-abc123", "short-key"])
def test_placeholder_secret_key_refused_outside_debug(key):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY is missing or a placeholder"):
        config.check_secret_key(key, debug=False)


def test_secret_key_accepted_when_real_or_in_debug():
    real = "k" * 40
    assert config.check_secret_key(real, debug=False) == real
    assert config.check_secret_key("", debug=True) == "bellamy-development-only-not-a-secret-0123456789"


def _start_django(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BELLAMY_", "DATABASE_", "REDIS_", "CELERY_"))}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT, env={**clean, "DJANGO_SETTINGS_MODULE": "bellamy.settings", **env},
        capture_output=True, text=True, timeout=60,
    )


def test_process_refuses_to_start_on_a_bad_url():
    # Given a typo in BELLAMY_GRAPH_URL, when Django starts, then it stops with that variable named.
    result = _start_django(DJANGO_DEBUG="1", BELLAMY_GRAPH_URL="neo5j://localhost:7687")
    assert result.returncode == 1
    assert "BELLAMY_GRAPH_URL='neo5j://localhost:7687': unknown URL scheme 'neo5j'" in result.stderr


def test_process_refuses_to_start_without_secret_outside_debug():
    result = _start_django(DJANGO_DEBUG="0")
    assert result.returncode == 1
    assert "DJANGO_SECRET_KEY is missing or a placeholder" in result.stderr
    assert _start_django(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="s" * 50).stdout == "started\n"
