"""Prometheus metrics of Bellamy Book: every family, and the one-line calls the hot paths make.

The families are defined here, once, with ``prometheus_client`` (README "Metrics" lists them
with example queries). Code elsewhere never touches a family directly: it calls the small
functions below, so an instrumented hot path stays one line and the label names live in one
place::

    metrics.events_published(row.type for row in sent)      # the outbox relay
    metrics.event_consumed(envelope.type)                    # the forwarder / in-process bus
    metrics.push_sent("notification.created", 3)             # after a push
    metrics.pushes_offline(m["type"] for _u, m in skipped)   # recipients without a socket
    metrics.cache_lookup("feed_page", hit=True)              # a cache-aside read
    metrics.dead_lettered("task")                            # a task that exhausted its retries
    metrics.push_dropped(reason="queue_full")                # a frame to an online socket lost

A new figure of the same kind (another outcome, reason or cache) is a new label value through
these calls, not a new family; a new family is defined here, beside the others, with a function
below and a line in README "Metrics".

**Several processes.** The web server, every Celery worker and the forwarder are separate
processes. With ``PROMETHEUS_MULTIPROC_DIR`` set (to a directory shared by the processes of
one host, the same value for all of them, *before* they start), each process writes its
values to its own memory-mapped files there, and ``/metrics`` (any web process) sums them
(:mod:`bellamy.metrics.multiprocess`). Without it (the embedded default: one process) the
values live in this process. Figures that are cheaper to read than to count — queue
depths, consumer lag, online users, the outbox backlog — are not counted here at all: they
are read from the services when ``/metrics`` is scraped (:mod:`bellamy.metrics.collectors`).

This module imports no domain app and nothing of Django at import time, so any process
(including ``bellamy/celery.py``'s) can import it.
"""

from __future__ import annotations

from collections import Counter as _Tally
from collections.abc import Iterable

from bellamy.metrics import multiprocess as _multiprocess

# Before any value exists in this process: forget live gauges a dead process with our pid left.
_multiprocess.prepare_process()

from prometheus_client import (  # noqa: E402
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# No ``*_created`` series: they double the series count, and the multi-process mode (production)
# has none, so the two modes expose the same names.
disable_created_metrics()

#: The registry of Bellamy's own families (the default registry keeps the library's process
#: collectors, exposed only in single-process mode where they describe the whole server).
REGISTRY = CollectorRegistry(auto_describe=True)

#: Seconds buckets of request and task durations: 5 ms … 10 s, then +Inf.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Seconds buckets of the time a task waits in its queue: 10 ms … 5 min.
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# --- HTTP (bellamy.metrics.middleware) ---------------------------------------------------------
HTTP_REQUESTS = Counter(
    "bellamy_http_requests", "HTTP requests answered, by method, URL pattern (route) and status code.",
    ["method", "route", "status"], registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "bellamy_http_request_duration_seconds",
    "Time from the request entering Django's middleware to the response leaving it, by method and URL pattern.",
    ["method", "route"], buckets=LATENCY_BUCKETS, registry=REGISTRY,
)

# --- Events ------------------------------------------------------------------------------------
EVENTS_PUBLISHED = Counter(
    "bellamy_events_published", "Events the outbox relay sent to the event bus (Kafka or in-process), by type.",
    ["type"], registry=REGISTRY,
)
EVENTS_PUBLISH_FAILED = Counter(
    "bellamy_events_publish_failures",
    "Outbox rows the bus refused, by type (each stays unsent and is retried by the sweep).",
    ["type"], registry=REGISTRY,
)
EVENTS_CONSUMED = Counter(
    "bellamy_events_consumed",
    "Events taken from the bus and dispatched to their tasks (the forwarder, or the in-process bus), by type.",
    ["type"], registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "bellamy_dead_letters",
    "Messages set aside instead of handled: 'forwarder' = records that are not valid envelopes, "
    "'task' = tasks that exhausted their retries.",
    ["source"], registry=REGISTRY,
)

# --- Celery tasks (bellamy.metrics.task_signals) -----------------------------------------------
TASKS = Counter(
    "bellamy_celery_tasks",
    "Task runs that ended, by queue, task name and outcome (success, failure, retry).",
    ["queue", "task", "outcome"], registry=REGISTRY,
)
TASK_RETRIES = Counter(
    "bellamy_celery_task_retries", "Task retries scheduled (by Celery's retry), by queue and task name.",
    ["queue", "task"], registry=REGISTRY,
)
TASK_DURATION = Histogram(
    "bellamy_celery_task_duration_seconds", "Run time of a task on its worker, by queue and task name.",
    ["queue", "task"], buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
TASK_WAIT = Histogram(
    "bellamy_celery_task_wait_seconds",
    "Time from a task's publication to the broker until a worker starts it, by queue.",
    ["queue"], buckets=WAIT_BUCKETS, registry=REGISTRY,
)

# --- Real time ---------------------------------------------------------------------------------
SOCKETS = Gauge(
    "bellamy_websocket_connections",
    "WebSockets open now (authenticated, on live processes; a dead process's sockets are dropped).",
    registry=REGISTRY, multiprocess_mode="livesum",
)
SOCKET_CONNECTS = Counter(
    "bellamy_websocket_connects",
    "WebSocket connection attempts, by outcome (accepted, rejected = closed with 4401).",
    ["outcome"], registry=REGISTRY,
)
PUSHES_SENT = Counter(
    "bellamy_pushes_sent", "Messages pushed to an online user's sockets, by message type.",
    ["type"], registry=REGISTRY,
)
PUSHES_OFFLINE = Counter(
    "bellamy_pushes_offline",
    "Messages not pushed because the recipient had no open socket (they read it later through the API), "
    "by message type.",
    ["type"], registry=REGISTRY,
)
PUSHES_DROPPED = Counter(
    "bellamy_pushes_dropped",
    "Messages to an online user's socket that were lost (e.g. a full queue: back-pressure), by reason.",
    ["reason"], registry=REGISTRY,
)

# --- Cache -------------------------------------------------------------------------------------
CACHE_REQUESTS = Counter(
    "bellamy_cache_requests", "Cache-aside reads, by cache and result (hit, miss).",
    ["cache", "result"], registry=REGISTRY,
)

#: Names of the families counted in processes (for the exposition of empty families).
COUNTED_FAMILIES = (
    HTTP_REQUESTS, HTTP_DURATION, EVENTS_PUBLISHED, EVENTS_PUBLISH_FAILED, EVENTS_CONSUMED, DEAD_LETTERS,
    TASKS, TASK_RETRIES, TASK_DURATION, TASK_WAIT, SOCKETS, SOCKET_CONNECTS, PUSHES_SENT, PUSHES_OFFLINE, PUSHES_DROPPED,
    CACHE_REQUESTS,
)


def _inc_by_label(counter: Counter, values: Iterable[str]) -> None:
    for value, count in _Tally(values).items():
        counter.labels(value).inc(count)


# --- The calls of the hot paths -----------------------------------------------------------------


def request_finished(*, method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered HTTP request (called by the request middleware).

    Args:
        method: HTTP method, upper case.
        route: the matched URL pattern (``api/Post/users/<id:user_id>``), never the raw path.
        status: the response's status code.
        seconds: time spent in Django, in seconds.
    """
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


def event_published(event_type: str, count: int = 1) -> None:
    """``count`` events of ``event_type`` reached the bus."""
    EVENTS_PUBLISHED.labels(event_type).inc(count)


def events_published(event_types: Iterable[str]) -> None:
    """One event per item of ``event_types`` (type names, repeats allowed) reached the bus."""
    _inc_by_label(EVENTS_PUBLISHED, event_types)


def events_publish_failed(event_types: Iterable[str]) -> None:
    """The bus refused one event per item of ``event_types`` (left unsent for the sweep)."""
    _inc_by_label(EVENTS_PUBLISH_FAILED, event_types)


def event_consumed(event_type: str, count: int = 1) -> None:
    """``count`` events of ``event_type`` were taken from the bus and dispatched."""
    EVENTS_CONSUMED.labels(event_type).inc(count)


def events_consumed(event_types: Iterable[str]) -> None:
    """One event per item of ``event_types`` was taken from the bus and dispatched."""
    _inc_by_label(EVENTS_CONSUMED, event_types)


def dead_lettered(source: str, count: int = 1) -> None:
    """``count`` messages were dead-lettered by ``source`` (``"forwarder"`` or ``"task"``)."""
    DEAD_LETTERS.labels(source).inc(count)


def task_finished(*, queue: str, task: str, outcome: str, seconds: float | None) -> None:
    """One task run ended with ``outcome`` (success, failure, retry) after ``seconds`` (``None``
    when its start was not seen). Called by the Celery signal handlers."""
    TASKS.labels(queue, task, outcome).inc()
    if seconds is not None:
        TASK_DURATION.labels(queue, task).observe(seconds)


def task_retried(*, queue: str, task: str) -> None:
    """A retry of ``task`` was scheduled (Celery's ``task_retry`` signal)."""
    TASK_RETRIES.labels(queue, task).inc()


def task_waited(*, queue: str, seconds: float) -> None:
    """A task waited ``seconds`` between its publication and its start on a worker."""
    TASK_WAIT.labels(queue).observe(max(0.0, seconds))


def socket_opened() -> None:
    """An authenticated WebSocket was accepted."""
    SOCKET_CONNECTS.labels("accepted").inc()
    SOCKETS.inc()


def socket_rejected() -> None:
    """A WebSocket was closed at once for lack of a valid token (4401)."""
    SOCKET_CONNECTS.labels("rejected").inc()


def socket_closed() -> None:
    """An authenticated WebSocket closed (call once per :func:`socket_opened`)."""
    SOCKETS.dec()


def push_sent(message_type: str, count: int = 1) -> None:
    """``count`` messages of ``message_type`` were pushed to online users' sockets."""
    PUSHES_SENT.labels(message_type).inc(count)


def pushes_sent(message_types: Iterable[str]) -> None:
    """One pushed message per item of ``message_types`` (message ``type`` values)."""
    _inc_by_label(PUSHES_SENT, message_types)


def push_offline(message_type: str, count: int = 1) -> None:
    """``count`` messages of ``message_type`` were not pushed: their recipients were offline."""
    PUSHES_OFFLINE.labels(message_type).inc(count)


def pushes_offline(message_types: Iterable[str]) -> None:
    """One message per item of ``message_types`` was not pushed: its recipient was offline."""
    _inc_by_label(PUSHES_OFFLINE, message_types)


def push_dropped(count: int = 1, *, reason: str) -> None:
    """``count`` messages to online sockets were lost because of ``reason`` (``"queue_full"``…)."""
    PUSHES_DROPPED.labels(reason).inc(count)


def cache_lookup(cache: str, *, hit: bool) -> None:
    """One cache-aside read of ``cache`` (``"feed_page"``, ``"suggestions"``) hit or missed."""
    CACHE_REQUESTS.labels(cache, "hit" if hit else "miss").inc()
