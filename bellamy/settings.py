"""Bellamy Book settings: one module, every production difference an environment variable.

Variables are documented in ``.env.example``. Unset backend URLs mean the embedded default
(SQLite, in-process events, eager Celery, local-memory cache and channel layer, ORM stores);
see ``bellamy/config.py`` for how each URL is turned into a backend.
"""

from datetime import timedelta
from pathlib import Path

import environ
from kombu import Queue

from bellamy import config
from bellamy.realtime.schema import FRAME_SCHEMAS as WEBSOCKET_FRAME_SCHEMAS
from bellamy.realtime.schema import WEBSOCKET_DESCRIPTION

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = config.check_secret_key(env.str("DJANGO_SECRET_KEY", default=""), debug=DEBUG, base_dir=BASE_DIR)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "bellamy.accounts",
    "bellamy.events",
    "bellamy.realtime",
    "bellamy.metrics",
    "graph",
    "posts",
    "feed",
    "notifications",
    "trends",
    "moderation",
    "search",
    "analytics",
    "demo",
    "exports",
]

MIDDLEWARE = [
    # First: times the whole of Django's handling (bellamy/metrics/middleware.py).
    "bellamy.metrics.middleware.request_metrics_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "bellamy.api.middleware.ApiErrorShapeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "bellamy.db_router.PinAfterWriteMiddleware",
    # Last, as django-axes requires: answers a locked-out admin login with its lockout page.
    "axes.middleware.AxesMiddleware",
]

#: Benchmarks mount their baseline endpoint with BELLAMY_ROOT_URLCONF=bench.urls.
ROOT_URLCONF = env.str("BELLAMY_ROOT_URLCONF", default="bellamy.urls")
WSGI_APPLICATION = "bellamy.wsgi.application"
ASGI_APPLICATION = "bellamy.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- Relational database (DATABASE_URL, DATABASE_REPLICA_URL) ---------------------------
DATABASES = config.databases(
    env.str("DATABASE_URL", default=""),
    env.str("DATABASE_REPLICA_URL", default=""),
    base_dir=BASE_DIR,
    pool=config.PoolSizes(
        min_size=env.int("BELLAMY_DB_POOL_MIN", default=1),
        max_size=env.int("BELLAMY_DB_POOL_MAX", default=4),
        timeout=env.float("BELLAMY_DB_POOL_TIMEOUT", default=10.0),
        max_idle=env.float("BELLAMY_DB_POOL_MAX_IDLE", default=30.0),
    ),
)
DATABASE_ROUTERS = ["bellamy.db_router.ReplicaRouter"]
#: The search store follows the database engine (PostgreSQL full-text search or SQLite FTS5).
BELLAMY_SEARCH = config.search_backend(DATABASES["default"]["ENGINE"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# django-axes first: it refuses a locked-out client before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "bellamy.accounts.admin_login.AdminLoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# --- Admin login protection (django-axes) --------------------------------------------------
# Failed logins to /admin/ are counted per client address (the same address the API's
# throttles use, BELLAMY_NUM_PROXIES); after BELLAMY_ADMIN_LOGIN_FAILURES failures the address
# is locked out (429) for BELLAMY_ADMIN_LOGIN_COOLOFF_MINUTES, even with the right password.
# A success resets the count. Failed API logins from the address count too, but the API login
# itself is never locked by axes: it keeps its rate throttle (scope "token").
AXES_ONLY_ADMIN_SITE = True
AXES_FAILURE_LIMIT = env.int("BELLAMY_ADMIN_LOGIN_FAILURES", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("BELLAMY_ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "bellamy.accounts.admin_login.client_ip"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Namespace on the shared servers (BELLAMY_NAMESPACE) -------------------------------------
#: One name per deployment from which the Redis key prefix, the Kafka topic prefix and consumer
#: group and the MongoDB database are derived (each overridable); the graph store labels its
#: nodes with it. See config.namespace_settings.
_NAMES = config.namespace_settings(
    env.str("BELLAMY_NAMESPACE", default=""),
    key_prefix=env.str("BELLAMY_KEY_PREFIX", default=""),
    topic_prefix=env.str("BELLAMY_TOPIC_PREFIX", default=""),
    forwarder_group=env.str("BELLAMY_FORWARDER_GROUP", default=""),
    mongo_database=env.str("BELLAMY_MONGO_DATABASE", default=""),
)
BELLAMY_NAMESPACE = _NAMES["BELLAMY_NAMESPACE"]

# --- Redis: cache, channel layer, presence (REDIS_URL, REDIS_REPLICA_URLS) -----------------
REDIS_URL = env.str("REDIS_URL", default="")
BELLAMY_KEY_PREFIX = _NAMES["BELLAMY_KEY_PREFIX"]
CACHES = config.caches(
    REDIS_URL, env.list("REDIS_REPLICA_URLS", default=[]), key_prefix=BELLAMY_KEY_PREFIX
)
CHANNEL_LAYERS = config.channel_layers(
    REDIS_URL,
    prefix=f"{BELLAMY_KEY_PREFIX}:asgi",
    inbox_capacity=env.int("BELLAMY_WS_INBOX_CAPACITY", default=10_000),
    socket_capacity=env.int("BELLAMY_WS_SOCKET_CAPACITY", default=100),
    pool_size=env.int("BELLAMY_WS_REDIS_CONNECTIONS", default=16),
)

# --- Celery (CELERY_BROKER_URL) -------------------------------------------------------------
CELERY_BROKER_URL, CELERY_TASK_ALWAYS_EAGER = config.celery_broker(
    env.str("CELERY_BROKER_URL", default="")
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
# Delivery: a task's message is acknowledged after the task returned, never before it ran. A pool
# process killed mid-task makes the worker requeue the message at once (reject on worker lost);
# a whole worker killed leaves its unacknowledged messages in Redis, where any worker restores
# them after BELLAMY_TASK_VISIBILITY_TIMEOUT seconds (kombu's default is one hour, which is how
# a SIGKILLed worker's tasks went missing). Each process reserves only the message it runs, so
# no message waits in a worker's memory long enough to be restored while still queued there.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
#: Seconds after which a delivered but unacknowledged task message is handed out again (its
#: worker died). A running event task refreshes its delivery every third of this
#: (``bellamy.events.delivery``), so only a dead worker's messages time out.
BELLAMY_TASK_VISIBILITY_TIMEOUT = env.int("BELLAMY_TASK_VISIBILITY_TIMEOUT", default=30)
CELERY_TASK_DEFAULT_QUEUE = "default"
#: One queue per worker (ARCHITECTURE.md §4); the routing table names the queue of each task.
BELLAMY_QUEUES = ("scoring", "graph", "notifications", "trends", "default")
CELERY_TASK_QUEUES = [Queue(name) for name in BELLAMY_QUEUES]
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{BELLAMY_KEY_PREFIX}:celery:",
    "visibility_timeout": BELLAMY_TASK_VISIBILITY_TIMEOUT,
    # Look for messages to restore every few seconds (kombu's default sweep is every ~100 s).
    "unacked_restore_interval": max(1, min(5, BELLAMY_TASK_VISIBILITY_TIMEOUT // 3)),
    "unacked_restore_throttle": 1,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
#: A worker keeps reconnecting to the broker for as long as it is down (never gives up and exits).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
#: Seconds during which an event task retries transient errors (PostgreSQL, Redis, MongoDB, Neo4j,
#: Kafka unreachable or overloaded) with exponential back-off before its batch is dead-lettered.
#: PostgreSQL being unreachable is retried for as long as it lasts: the dead-letter store is there.
BELLAMY_TASK_RETRY_BUDGET = env.float("BELLAMY_TASK_RETRY_BUDGET", default=600.0)
#: Longest pause between two retries of a task, in seconds (the back-off doubles from 0.5 s).
BELLAMY_TASK_RETRY_MAX_DELAY = env.float("BELLAMY_TASK_RETRY_MAX_DELAY", default=10.0)
CELERY_BEAT_SCHEDULE = {
    "relay-outbox": {"task": "events.relay_outbox_task", "schedule": 5.0},
    "prune-outbox": {"task": "events.prune_outbox_task", "schedule": 3600.0},
    "recompute-content-scores": {
        "task": "feed.recompute_recent_scores_task", "schedule": 600.0, "options": {"queue": "scoring"},
    },
    "recompute-trends": {"task": "trends.recompute_trends_task", "schedule": 300.0, "options": {"queue": "trends"}},
    "analytics-rollup": {"task": "analytics.rollup_recent_task", "schedule": 300.0},
    "expire-notifications": {
        "task": "notifications.expire_task", "schedule": 3600.0, "options": {"queue": "notifications"},
    },
    "prune-graph-applied-events": {
        "task": "graph.prune_applied_events_task", "schedule": 3600.0, "options": {"queue": "graph"},
    },
    # Erase the accounts whose deletion is due, and finish the erasures every store has handled.
    "erase-due-accounts": {"task": "accounts.erase_due_accounts_task", "schedule": 300.0},
    "expire-exports": {"task": "exports.expire_exports_task", "schedule": 3600.0},
}
CELERY_TIMEZONE = "UTC"

# --- Events (BELLAMY_EVENTS_URL) --------------------------------------------------------------
BELLAMY_TOPIC_PREFIX = _NAMES["BELLAMY_TOPIC_PREFIX"]
#: How committed outbox rows are relayed: "inline" (in the committing thread, before the
#: request returns) or "background" (a relay thread per process batches them; the default
#: with Kafka). Either way the periodic sweep sends whatever was left.
BELLAMY_OUTBOX_RELAY = env.str(
    "BELLAMY_OUTBOX_RELAY", default="background" if env.str("BELLAMY_EVENTS_URL", default="") else "inline"
)
if BELLAMY_OUTBOX_RELAY not in ("inline", "background"):
    raise config.ImproperlyConfigured("BELLAMY_OUTBOX_RELAY must be 'inline' or 'background'")
BELLAMY_EVENTS = config.events_backend(
    env.str("BELLAMY_EVENTS_URL", default=""), topic_prefix=BELLAMY_TOPIC_PREFIX
)
#: Sent outbox rows are deleted after this many hours.
BELLAMY_OUTBOX_RETENTION_HOURS = env.int("BELLAMY_OUTBOX_RETENTION_HOURS", default=72)
#: Largest encoded envelope ``publish()`` accepts, in bytes (Kafka's default message limit is 1 MiB).
BELLAMY_EVENT_MAX_BYTES = env.int("BELLAMY_EVENT_MAX_BYTES", default=256 * 1024)
BELLAMY_FORWARDER_GROUP = _NAMES["BELLAMY_FORWARDER_GROUP"]
#: Most records the forwarder hands on as one batch (one task per route per batch).
BELLAMY_FORWARDER_BATCH_SIZE = env.int("BELLAMY_FORWARDER_BATCH_SIZE", default=500)
#: Once a poll returned records, milliseconds the forwarder keeps polling to fill the batch
#: (the added latency of a quiet system); under load this linger doubles per batch up to
#: BELLAMY_FORWARDER_BATCH_WAIT_MAX_MS (bellamy.events.forwarder.Linger).
BELLAMY_FORWARDER_BATCH_WAIT_MS = env.int("BELLAMY_FORWARDER_BATCH_WAIT_MS", default=20)
BELLAMY_FORWARDER_BATCH_WAIT_MAX_MS = env.int("BELLAMY_FORWARDER_BATCH_WAIT_MAX_MS", default=200)

# --- Stores (BELLAMY_NOTIFICATIONS_URL, BELLAMY_GRAPH_URL) -----------------------------------
BELLAMY_MONGO_DATABASE = _NAMES["BELLAMY_MONGO_DATABASE"]
BELLAMY_NOTIFICATIONS = config.notifications_backend(
    env.str("BELLAMY_NOTIFICATIONS_URL", default=""),
    database=BELLAMY_MONGO_DATABASE,
)
BELLAMY_GRAPH = config.graph_backend(env.str("BELLAMY_GRAPH_URL", default=""))
#: Days a notification is kept (MongoDB TTL index / periodic expiry of the ORM store).
BELLAMY_NOTIFICATION_RETENTION_DAYS = env.int("BELLAMY_NOTIFICATION_RETENTION_DAYS", default=90)
#: Half-life of relationship weights, in days (decay applied on read by the graph store).
BELLAMY_WEIGHT_HALF_LIFE_DAYS = env.float("BELLAMY_WEIGHT_HALF_LIFE_DAYS", default=14.0)

# --- Account lifecycle and data exports (README "Account lifecycle") -----------------------
#: Days between a user's deletion request and the erasure (the account is deactivated at once
#: and can be reactivated until then); 0 erases at the next sweep.
BELLAMY_ACCOUNT_DELETION_GRACE_DAYS = env.int("BELLAMY_ACCOUNT_DELETION_GRACE_DAYS", default=30)
if BELLAMY_ACCOUNT_DELETION_GRACE_DAYS < 0:
    raise config.ImproperlyConfigured("BELLAMY_ACCOUNT_DELETION_GRACE_DAYS must be 0 or more")
#: Hours an export archive stays downloadable (its signed link expires with it).
BELLAMY_EXPORT_EXPIRY_HOURS = env.int("BELLAMY_EXPORT_EXPIRY_HOURS", default=168)
#: Hours a user waits between two export requests (429 with Retry-After before).
BELLAMY_EXPORT_INTERVAL_HOURS = env.int("BELLAMY_EXPORT_INTERVAL_HOURS", default=24)
if BELLAMY_EXPORT_EXPIRY_HOURS < 1 or BELLAMY_EXPORT_INTERVAL_HOURS < 0:
    raise config.ImproperlyConfigured(
        "BELLAMY_EXPORT_EXPIRY_HOURS must be at least 1 and BELLAMY_EXPORT_INTERVAL_HOURS 0 or more"
    )
#: Where uploaded and generated files live (export archives under exports/), served only
#: through signed, expiring links, never as static files.
# (empty, as in .env.example, means the default)
MEDIA_ROOT = Path(env.str("BELLAMY_MEDIA_ROOT", default="") or BASE_DIR / ".data" / "media")
MEDIA_URL = "media/"

# --- Metrics (README "Metrics"; PROMETHEUS_MULTIPROC_DIR is read by prometheus_client) ------------
#: Bearer token /metrics requires when set.
BELLAMY_METRICS_TOKEN = env.str("BELLAMY_METRICS_TOKEN", default="")
#: Addresses or networks allowed to read /metrics when set (others get a 404).
BELLAMY_METRICS_ALLOW = env.list("BELLAMY_METRICS_ALLOW", default=[])
#: Seconds a scrape waits for a service's figures, and seconds a reading is reused.
BELLAMY_METRICS_SCRAPE_TIMEOUT = env.float("BELLAMY_METRICS_SCRAPE_TIMEOUT", default=2.0)
BELLAMY_METRICS_CACHE_SECONDS = env.float("BELLAMY_METRICS_CACHE_SECONDS", default=5.0)

# --- HTTP API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "bellamy.accounts.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["bellamy.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "bellamy.api.pagination.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "bellamy.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "register": env.str("BELLAMY_THROTTLE_REGISTER", default="10/hour"),
        "token": env.str("BELLAMY_THROTTLE_TOKEN", default="20/min"),
        "password": env.str("BELLAMY_THROTTLE_PASSWORD", default="10/hour"),
    },
    "NUM_PROXIES": env.int("BELLAMY_NUM_PROXIES", default=0),
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("BELLAMY_ACCESS_TOKEN_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("BELLAMY_REFRESH_TOKEN_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # Every token carries a hash of the password hash; a password change refuses older tokens.
    "CHECK_REVOKE_TOKEN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Bellamy Book API",
    # The WebSocket /ws/ has no OpenAPI operation: its contract is prose and Ws* components.
    "DESCRIPTION": "REST API of the Bellamy Book social network (contract: API.md)." + WEBSOCKET_DESCRIPTION,
    "APPEND_COMPONENTS": {"schemas": WEBSOCKET_FRAME_SCHEMAS},
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets served by us (drf-spectacular-sidecar), not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Object ids in paths (bellamy.api.converters): 64-bit, larger values are a 404.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}},
}
CORS_ALLOWED_ORIGINS = env.list("DJANGO_CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
#: WhiteNoise serves the admin and Swagger UI assets from the app folders in every mode.
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("BELLAMY_LOG_LEVEL", default="INFO")},
    "loggers": {"kafka": {"level": "WARNING"}, "neo4j": {"level": "WARNING"}},
}
