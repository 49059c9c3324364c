"""Run the production stack as real processes for end-to-end tests and benchmarks.

:class:`LiveStack` starts, under the same process manager as ``bin/stack`` (supervisord,
:mod:`deploy.stack`), against the services of ``bin/services``: the web program (HTTP +
WebSocket), Celery workers serving every queue, and the Kafka forwarder — with Kafka events,
Celery on Redis, channels-redis, presence in Redis and the MongoDB notification store. Each
stack has its own namespace (``BELLAMY_NAMESPACE=stack<tag>``: Redis key prefix, topic prefix,
consumer group, MongoDB database), so a stack never sees another one's data.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from deploy.stack import QUEUES, Stack, StackConfig

ROOT = Path(__file__).resolve().parent.parent


def current_database_url() -> str:
    """The database Django is connected to now, as a URL (a test run's test database)."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_server() -> str:
    """``host:port`` of the Redis the caller uses (``REDIS_URL``), else the local default."""
    url = os.environ.get("REDIS_URL", "")
    return urlsplit(url).netloc.rsplit("@", 1)[-1] if url.startswith("redis://") else "127.0.0.1:6379"


class LiveStack:
    """Web + workers + forwarder under supervisord, sharing one environment.

    Args:
        database_url: the PostgreSQL database the processes use; default the one Django is
            connected to (a test database works: tests write their rows committed, with
            ``transactional_db``).
        workers: Celery worker programs (``worker0``, ``worker1``, ...; each serves every queue).
        log_dir: where each program's log (``<name>.log``) and supervisord's files go.
        extra_env: more variables (e.g. ``BELLAMY_GRAPH_URL``).
        beat: also run celery beat (off by default: tests and benchmarks drive the relay).
        web_processes: processes of the web server (``BELLAMY_WEB_PROCESSES``; default 1).
        per_queue_workers: one worker per queue (``worker-scoring``, ...), as ``bin/stack``,
            instead of ``workers`` workers serving every queue.
    """

    def __init__(self, *, database_url: str | None = None, workers: int = 1, log_dir: Path | None = None,
                 extra_env: dict[str, str] | None = None, beat: bool = False, per_queue_workers: bool = False,
                 web_processes: int = 1):
        tag = uuid.uuid4().hex[:8]
        self.tag = tag
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir or ROOT / ".data" / "live-stack" / tag
        self.log_dir.mkdir(parents=True, exist_ok=True)
        redis = _redis_server()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BELLAMY_", "CELERY_", "REDIS_"))},
            "DJANGO_SETTINGS_MODULE": "bellamy.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "live-stack-secret-key-not-for-production-0123"),
            "DATABASE_URL": database_url or current_database_url(),
            "REDIS_URL": f"redis://{redis}/10",
            "CELERY_BROKER_URL": f"redis://{redis}/11",
            "BELLAMY_NAMESPACE": f"stack{tag}",
            "BELLAMY_EVENTS_URL": "kafka://127.0.0.1:9092",
            "BELLAMY_NOTIFICATIONS_URL": "mongodb://127.0.0.1:27017",
            "BELLAMY_MONGO_DATABASE": f"bellamy_stack_{tag}",
            "BELLAMY_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.workers = workers
        layout = {} if per_queue_workers else {"workers": tuple((f"worker{n}", QUEUES) for n in range(workers))}
        self.stack = Stack(
            StackConfig.from_env(
                self.env, run_dir=self.log_dir, log_dir=self.log_dir, host="127.0.0.1", port=self.port,
                namespace=f"stack{tag}", beat=beat, log_level="WARNING", web_processes=web_processes, **layout,
            ),
            self.env,
        )
        self.stop_seconds: float | None = None

    def start(self, timeout: float = 90.0) -> LiveStack:
        """Start every program and wait until each is ready.

        Raises:
            RuntimeError: a program exited for good or was not ready within ``timeout`` seconds
                (the message holds the tail of its log).
        """
        self.stack.start(timeout=timeout)
        return self

    def pids(self) -> dict[str, int]:
        """``{program: pid}`` as supervisord reports them (0 for a program not running)."""
        return self.stack.pids()

    def tail(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of a program's log."""
        return self.stack.tail(name, lines)

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each program's process (MiB), from /proc."""
        result = {}
        for name, pid in self.pids().items():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            result[name] = kb / 1024
        return result

    def stop(self) -> None:
        """SIGTERM supervisord (it stops every program, SIGKILL after each one's stop timeout);
        drop the stack's MongoDB database. ``stop_seconds`` says how long the shutdown took."""
        self.stop_seconds = self.stack.stop()
        from pymongo import MongoClient

        client = MongoClient(self.env["BELLAMY_NOTIFICATIONS_URL"], serverSelectionTimeoutMS=3000)
        try:
            client.drop_database(self.env["BELLAMY_MONGO_DATABASE"])
        finally:
            client.close()

    def __enter__(self) -> LiveStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
