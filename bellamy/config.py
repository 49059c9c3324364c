"""Backend choice from environment URLs (ARCHITECTURE.md §3).

Every external part of Bellamy Book has an embedded default (the variable is unset) and a
production backend chosen by the URL scheme of one environment variable. The functions here
are pure: they take the variable's value and return the Django / Celery / Bellamy setting
that ``bellamy/settings.py`` assigns, so each choice is testable without reloading settings.

An unknown scheme raises :class:`BackendURLError` naming the variable, so a typo stops the
process at start-up instead of silently falling back to the embedded default.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

#: Secret keys that mean "nobody set one"; refused outside debug.
PLACEHOLDER_SECRET_KEYS = frozenset(
    {"", "change-me", "changeme", "secret", "django-insecure-change-me", "replace-me"}
)


#: SQLite connection options of the embedded default. The ASGI server runs each request in
#: its own thread (and ``manage.py`` commands may run beside it), so several connections write
#: the one file at once. SQLite's default ``BEGIN DEFERRED`` starts a transaction as a reader
#: and upgrades it at its first write; when another connection wrote meanwhile the upgrade
#: fails at once with "database is locked" (the busy timeout cannot help: waiting would
#: deadlock). ``BEGIN IMMEDIATE`` takes the write lock when ``atomic()`` starts, so a second
#: writer waits (up to ``timeout`` seconds) instead of failing. WAL lets readers go on while
#: one connection writes; ``synchronous=NORMAL`` is the setting SQLite recommends with WAL
#: (durable against a crash of the process, not of the machine: fine for a development server).
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


class BackendURLError(ImproperlyConfigured):
    """A backend URL variable holds a scheme Bellamy Book has no backend for."""


def redact(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (for error messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def url_scheme(variable: str, url: str, allowed: tuple[str, ...]) -> str:
    """Return the scheme of ``url``, checked against ``allowed``.

    Args:
        variable: the environment variable's name, quoted in the error.
        url: its value (non-empty).
        allowed: accepted schemes, lower case.
    Raises:
        BackendURLError: the scheme is missing or not in ``allowed``.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme not in allowed:
        raise BackendURLError(
            f"{variable}={redact(url)!r}: unknown URL scheme {scheme!r}; "
            f"expected one of {', '.join(s + '://' for s in allowed)} or leave it unset "
            "for the embedded default"
        )
    return scheme


def check_secret_key(secret_key: str | None, *, debug: bool, base_dir: Path) -> str:
    """Return the secret key to use (it also signs the JWTs).

    In debug a missing key is the checkout's own random key, ``<base_dir>/.data/secret_key``
    (created on first use, the file ``bin/stack`` uses too; ``.data/`` is not in git), so no
    two development servers share a key and nobody can mint tokens for one from the source.
    Outside debug a missing or placeholder ``DJANGO_SECRET_KEY`` refuses to start (as Zulip
    does for missing secrets).

    Raises:
        ImproperlyConfigured: not debug and the key is missing, a placeholder, or shorter than
            32 characters.
    """
    key = (secret_key or "").strip()
    if debug:
        return key or checkout_secret_key(base_dir)
    if key.lower() in PLACEHOLDER_SECRET_KEYS or key.startswith("django-insecure") or len(key) < 32:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is missing or a placeholder; set a random value of at least "
            "32 characters (or DJANGO_DEBUG=1 for development)"
        )
    return key


#: A namespace is part of Redis keys, Kafka topic and group names, a MongoDB database name and
#: (graph store) a Neo4j label: letters, digits and underscores, starting with a letter.
NAMESPACE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
DEFAULT_NAMESPACE = "bellamy"


def namespace_settings(namespace: str | None, *, key_prefix: str | None = None, topic_prefix: str | None = None,
                       forwarder_group: str | None = None, mongo_database: str | None = None) -> dict[str, str]:
    """Derive every per-deployment name on the shared servers from ``BELLAMY_NAMESPACE``.

    Two deployments with different namespaces on one Redis, one Kafka and one MongoDB never
    see each other's data: cache, channel-layer, presence and Celery broker keys start with
    the key prefix, topics with the topic prefix, the forwarder reads in its own consumer
    group, notifications live in their own database. Each name stays overridable by its own
    variable (an empty value counts as unset).

    Args:
        namespace: ``BELLAMY_NAMESPACE``; empty or None means :data:`DEFAULT_NAMESPACE` with the
            historical names (topic prefix ``""``), so existing deployments keep their topics.
        key_prefix, topic_prefix, forwarder_group, mongo_database: explicit values of
            ``BELLAMY_KEY_PREFIX``, ``BELLAMY_TOPIC_PREFIX``, ``BELLAMY_FORWARDER_GROUP``,
            ``BELLAMY_MONGO_DATABASE``.
    Returns:
        ``{"BELLAMY_NAMESPACE", "BELLAMY_KEY_PREFIX", "BELLAMY_TOPIC_PREFIX",
        "BELLAMY_FORWARDER_GROUP", "BELLAMY_MONGO_DATABASE": str}``.
    Raises:
        ImproperlyConfigured: the namespace is not 1-48 letters, digits or underscores
            starting with a letter.
    """
    explicit = bool(namespace)
    namespace = namespace or DEFAULT_NAMESPACE
    if not NAMESPACE_PATTERN.fullmatch(namespace):
        raise ImproperlyConfigured(
            f"BELLAMY_NAMESPACE={namespace!r}: use 1-48 letters, digits or underscores, starting with a letter"
        )
    return {
        "BELLAMY_NAMESPACE": namespace,
        "BELLAMY_KEY_PREFIX": key_prefix or namespace,
        "BELLAMY_TOPIC_PREFIX": topic_prefix or (f"{namespace}." if explicit else ""),
        "BELLAMY_FORWARDER_GROUP": forwarder_group or f"{namespace}-forwarder",
        "BELLAMY_MONGO_DATABASE": mongo_database or namespace,
    }


def checkout_secret_key(base_dir: Path) -> str:
    """Return the random key of this checkout, ``<base_dir>/.data/secret_key``, creating it
    (64 URL-safe characters, mode 0600) when missing or empty.

    Creation is atomic (a complete temporary file is hard-linked into place), so processes
    starting together agree on one key.
    """
    path = base_dir / ".data" / "secret_key"
    with contextlib.suppress(FileNotFoundError):
        key = path.read_text().strip()
        if key:
            return key
        path.unlink()  # an empty file (an interrupted write): make a new key
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_text().strip()


@dataclass(frozen=True)
class PoolSizes:
    """Per-process PostgreSQL connection pool (psycopg_pool through Django's ``"pool"`` option).

    Attributes:
        min_size: connections kept open while idle (``BELLAMY_DB_POOL_MIN``, default 1).
        max_size: most connections one process ever holds (``BELLAMY_DB_POOL_MAX``, default
            4); a request needing one more waits for a free connection.
        timeout: seconds a request waits for a free connection before failing
            (``BELLAMY_DB_POOL_TIMEOUT``, default 10).
        max_idle: seconds a connection above ``min_size`` may stay idle before it is closed
            (``BELLAMY_DB_POOL_MAX_IDLE``, default 30; the pool closes one per interval).
    """

    min_size: int = 1
    max_size: int = 4
    timeout: float = 10.0
    max_idle: float = 30.0

    def __post_init__(self):
        if not 0 <= self.min_size <= self.max_size or self.max_size < 1:
            raise ImproperlyConfigured(
                f"database pool: need 0 <= BELLAMY_DB_POOL_MIN ({self.min_size}) <= "
                f"BELLAMY_DB_POOL_MAX ({self.max_size}) and BELLAMY_DB_POOL_MAX >= 1"
            )
        if self.timeout <= 0 or self.max_idle <= 0:
            raise ImproperlyConfigured("database pool: BELLAMY_DB_POOL_TIMEOUT and _MAX_IDLE must be > 0")

    def options(self) -> dict:
        """The ``OPTIONS["pool"]`` dict Django passes to ``psycopg_pool.ConnectionPool``."""
        return {"min_size": self.min_size, "max_size": self.max_size, "timeout": self.timeout,
                "max_idle": self.max_idle}


def databases(url: str | None, replica_url: str | None, *, base_dir: Path, pool: PoolSizes | None = None) -> dict:
    """Return Django's ``DATABASES`` for ``DATABASE_URL`` and ``DATABASE_REPLICA_URL``.

    Unset ``DATABASE_URL`` means a SQLite file ``<base_dir>/.data/db.sqlite3``. The optional
    replica becomes the ``replica`` alias, mirrored to ``default`` in tests (the router that
    sends reads to it arrives with the feed).

    PostgreSQL aliases get a connection pool per process (``pool``, default
    :class:`PoolSizes`): a request borrows a connection and returns it when it ends, so a
    process never holds more than ``max_size`` connections however many requests run at once
    in its threads (with ``CONN_MAX_AGE`` each request thread kept its own connection open),
    and connections idle for ``max_idle`` seconds are closed down to ``min_size``.

    Raises:
        BackendURLError: a scheme other than ``postgres``/``postgresql``/``sqlite``.
    """
    pool = pool or PoolSizes()
    if url:
        url_scheme("DATABASE_URL", url, ("postgres", "postgresql", "pgsql", "sqlite"))
        default = environ.Env.db_url_config(url)
    else:
        data_dir = base_dir / ".data"
        data_dir.mkdir(exist_ok=True)
        default = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(data_dir / "db.sqlite3")}
    default.setdefault("OPTIONS", {})
    if default["ENGINE"] == "django.db.backends.sqlite3":
        default["OPTIONS"] = {**SQLITE_OPTIONS, **default["OPTIONS"]}
    else:
        _use_pool(default, pool)
    result = {"default": default}
    if replica_url:
        url_scheme("DATABASE_REPLICA_URL", replica_url, ("postgres", "postgresql", "pgsql"))
        replica = environ.Env.db_url_config(replica_url)
        _use_pool(replica, pool)
        replica["TEST"] = {"MIRROR": "default"}
        result["replica"] = replica
    return result


def _use_pool(database: dict, pool: PoolSizes) -> None:
    # Pooled connections are returned at the end of each request, so CONN_MAX_AGE must be 0
    # (Django refuses persistent connections with a pool); the pool checks a connection
    # before lending it (CONN_HEALTH_CHECKS), so a restarted server costs no failed request.
    database["CONN_MAX_AGE"] = 0
    database["CONN_HEALTH_CHECKS"] = True
    database.setdefault("OPTIONS", {})["pool"] = pool.options()


def caches(url: str | None, replica_urls: list[str], *, key_prefix: str) -> dict:
    """Return Django's ``CACHES``: django-redis on ``REDIS_URL``, else local memory.

    ``REDIS_REPLICA_URLS`` are appended after the primary: django-redis writes to the first
    location and spreads reads over the others.

    Raises:
        BackendURLError: a scheme other than ``redis``/``rediss``/``unix``.
    """
    if not url:
        return {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "KEY_PREFIX": key_prefix,
            }
        }
    url_scheme("REDIS_URL", url, ("redis", "rediss", "unix"))
    for replica in replica_urls:
        url_scheme("REDIS_REPLICA_URLS", replica, ("redis", "rediss", "unix"))
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": [url, *replica_urls] if replica_urls else url,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }


def channel_layers(
    url: str | None,
    *,
    prefix: str,
    inbox_capacity: int = 10_000,
    socket_capacity: int = 100,
    pool_size: int = 16,
) -> dict:
    """Return Channels' ``CHANNEL_LAYERS``: Bellamy's channels-redis layer on ``REDIS_URL``
    (``bellamy.realtime.layers.RealtimeChannelLayer``), else the in-memory layer.

    Args:
        url: ``REDIS_URL``.
        prefix: key prefix of the layer's keys.
        inbox_capacity: frames a web process's inbox holds before further frames to it are
            dropped and counted (``BELLAMY_WS_INBOX_CAPACITY``).
        socket_capacity: frames one socket's queue holds in its process before further frames
            to it are dropped and counted (``BELLAMY_WS_SOCKET_CAPACITY``).
        pool_size: Redis connections per process (and per event loop) of the layer
            (``BELLAMY_WS_REDIS_CONNECTIONS``).
    Raises:
        BackendURLError: a scheme other than ``redis``/``rediss``/``unix``.
        ImproperlyConfigured: a capacity or pool size below 1.
    """
    for name, value in (("BELLAMY_WS_INBOX_CAPACITY", inbox_capacity),
                        ("BELLAMY_WS_SOCKET_CAPACITY", socket_capacity),
                        ("BELLAMY_WS_REDIS_CONNECTIONS", pool_size)):
        if value < 1:
            raise ImproperlyConfigured(f"{name}={value}: must be at least 1")
    if not url:
        # One process: the consumer reads its channel continuously, so the in-memory queues
        # only need room for a burst.
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                            "CONFIG": {"capacity": socket_capacity}}}
    url_scheme("REDIS_URL", url, ("redis", "rediss", "unix"))
    return {
        "default": {
            "BACKEND": "bellamy.realtime.layers.RealtimeChannelLayer",
            "CONFIG": {
                "hosts": [url],
                "prefix": prefix,
                "capacity": inbox_capacity,
                "socket_capacity": socket_capacity,
                "pool_size": pool_size,
            },
        }
    }


def celery_broker(url: str | None) -> tuple[str, bool]:
    """Return ``(broker_url, always_eager)`` for ``CELERY_BROKER_URL``.

    Unset means eager Celery: tasks run in the calling process (the embedded default). Its
    broker URL is kombu's in-memory transport *with a host name*: an eager ``apply_async``
    still takes a producer from the pool, and a pooled connection without a host logs
    "No hostname was supplied. Reverting to default 'localhost'" (kombu fills in the
    transport's default host; the memory transport ignores it either way).

    Raises:
        BackendURLError: a scheme other than ``redis``/``rediss``/``amqp``.
    """
    if not url:
        return "memory://localhost/", True
    url_scheme("CELERY_BROKER_URL", url, ("redis", "rediss", "amqp", "pyamqp"))
    return url, False


def events_backend(url: str | None, *, topic_prefix: str) -> dict:
    """Return ``BELLAMY_EVENTS`` (a backend-loader spec) for ``BELLAMY_EVENTS_URL``.

    ``kafka://host:port[,host:port]`` selects the Kafka bus; unset the in-process bus.

    Raises:
        BackendURLError: a scheme other than ``kafka``.
    """
    if not url:
        return {"BACKEND": "bellamy.events.backends.inprocess.InProcessBus", "OPTIONS": {}}
    url_scheme("BELLAMY_EVENTS_URL", url, ("kafka",))
    servers = urlsplit(url).netloc.split(",")
    return {
        "BACKEND": "bellamy.events.backends.kafka.KafkaBus",
        "OPTIONS": {"bootstrap_servers": servers, "topic_prefix": topic_prefix},
    }


def notifications_backend(url: str | None, *, database: str) -> dict:
    """Return ``BELLAMY_NOTIFICATIONS`` for ``BELLAMY_NOTIFICATIONS_URL``.

    A ``mongodb://`` or ``mongodb+srv://`` URI (replica-set options included) is passed to
    pymongo untouched; unset means the Django ORM store.

    Raises:
        BackendURLError: any other scheme.
    """
    if not url:
        return {"BACKEND": "notifications.stores.orm.OrmNotificationStore", "OPTIONS": {}}
    url_scheme("BELLAMY_NOTIFICATIONS_URL", url, ("mongodb", "mongodb+srv"))
    return {
        "BACKEND": "notifications.stores.mongo.MongoNotificationStore",
        "OPTIONS": {"url": url, "database": database},
    }


def graph_backend(url: str | None) -> dict:
    """Return ``BELLAMY_GRAPH`` for ``BELLAMY_GRAPH_URL``.

    ``bolt://`` / ``neo4j://`` (and their ``+s``/``+ssc`` TLS forms) select Neo4j through
    neomodel; unset means the Django ORM store.

    Raises:
        BackendURLError: any other scheme.
    """
    if not url:
        return {"BACKEND": "graph.stores.orm.OrmGraphStore", "OPTIONS": {}}
    url_scheme(
        "BELLAMY_GRAPH_URL", url, ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
    )
    return {"BACKEND": "graph.stores.neo4j.Neo4jGraphStore", "OPTIONS": {"url": url}}


def search_backend(engine: str) -> dict:
    """Return ``BELLAMY_SEARCH`` for the default database's Django ``ENGINE``.

    Search lives in the relational database: PostgreSQL full-text search on PostgreSQL,
    SQLite FTS5 on the embedded default. There is no variable of its own.

    Raises:
        ImproperlyConfigured: an engine without a search store.
    """
    stores = {
        "django.db.backends.postgresql": "search.stores.postgres.PostgresSearchStore",
        "django.db.backends.sqlite3": "search.stores.sqlite.SqliteSearchStore",
    }
    try:
        return {"BACKEND": stores[engine], "OPTIONS": {}}
    except KeyError:
        raise ImproperlyConfigured(f"search has no store for the database engine {engine!r}") from None
