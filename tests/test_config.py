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
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
    assert config.caches("", [], key_prefix="b")["default"]["BACKEND"] == (
        "django.core.cache.backends.locmem.LocMemCache"
    )
    assert config.channel_layers("", prefix="b") == {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 100}}
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
            "BACKEND": "bellamy.realtime.layers.RealtimeChannelLayer",
            "CONFIG": {"hosts": ["redis://r:6379/0"], "prefix": "b:asgi", "capacity": 10_000,
                       "socket_capacity": 100, "pool_size": 16},
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
        config.check_secret_key(key, debug=False, base_dir=Path("/nonexistent"))


def test_secret_key_accepted_when_real_or_in_debug(tmp_path):
    real = "k" * 40
    assert config.check_secret_key(real, debug=False, base_dir=tmp_path) == real
    assert config.check_secret_key(real, debug=True, base_dir=tmp_path) == real
    assert not (tmp_path / ".data").exists()


def test_debug_without_a_key_uses_a_random_key_per_checkout(tmp_path):
    # given: two checkouts without DJANGO_SECRET_KEY (make run)
    first, second = tmp_path / "one", tmp_path / "two"
    # when
    key = config.check_secret_key("", debug=True, base_dir=first)
    # then: a random key kept in the checkout's .data/ (not in git), private, stable
    path = first / ".data" / "secret_key"
    assert path.read_text() == key + "\n"
    assert len(key) == 64 and key not in (ROOT / "bellamy" / "config.py").read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert config.check_secret_key("", debug=True, base_dir=first) == key
    assert config.check_secret_key("", debug=True, base_dir=second) != key
    assert sorted(p.name for p in (first / ".data").iterdir()) == ["secret_key"]


def test_debug_reuses_the_key_bin_stack_wrote(tmp_path):
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "secret_key").write_text("written-by-bin-stack-" + "x" * 43 + "\n")
    assert config.check_secret_key("", debug=True, base_dir=tmp_path) == "written-by-bin-stack-" + "x" * 43


def test_an_empty_key_file_is_replaced(tmp_path):
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "secret_key").write_text("")
    key = config.check_secret_key("", debug=True, base_dir=tmp_path)
    assert len(key) == 64
    assert (tmp_path / ".data" / "secret_key").read_text() == key + "\n"


def test_the_secret_key_file_is_ignored_by_git():
    result = subprocess.run(["git", "check-ignore", ".data/secret_key"], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout == ".data/secret_key\n"


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


def test_make_run_settings_sign_with_the_checkout_key():
    # Given make run's environment (DJANGO_DEBUG=1, no DJANGO_SECRET_KEY), when Django starts,
    # then it signs with this checkout's .data/secret_key, not with a key from the source.
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "from rest_framework_simplejwt.settings import api_settings; print(settings.SECRET_KEY, api_settings.SIGNING_KEY)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BELLAMY_", "DATABASE_", "REDIS_"))},
             "DJANGO_SETTINGS_MODULE": "bellamy.settings", "DJANGO_DEBUG": "1"},
    )
    key = (ROOT / ".data" / "secret_key").read_text().strip()
    assert result.stdout == f"{key} {key}\n", result.stderr


def test_the_stack_uses_the_same_checkout_key(tmp_path, monkeypatch):
    # bin/stack (deploy.stack) and make run share one mechanism: bellamy.config.checkout_secret_key.
    from deploy import stack

    monkeypatch.setattr(stack, "ROOT", tmp_path)
    env = stack.default_env({})
    assert env["DJANGO_SECRET_KEY"] == config.check_secret_key("", debug=True, base_dir=tmp_path)
    assert len(env["DJANGO_SECRET_KEY"]) == 64
