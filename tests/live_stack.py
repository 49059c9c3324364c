"""Run the production stack as real processes for end-to-end tests and benchmarks.

:class:`LiveStack` starts, against the services of ``bin/services``: the web server (``bin/web``:
Granian, HTTP + WebSocket, ``web_processes`` processes), optionally the outbox relay sweep,
one Celery worker serving every queue, and the Kafka forwarder — with
Kafka events, Celery on Redis, channels-redis, presence in Redis and the MongoDB notification
store. Topic prefix, consumer group, Redis key prefix and MongoDB database are unique per
stack, so a stack never sees another one's events.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def current_database_url() -> str:
    """The database Django is connected to now, as a URL (a test run's test database)."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/<pid>/task/*/children)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return pids


def _rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveStack:
    """Web + worker + forwarder subprocesses sharing one environment.

    Args:
        database_url: the PostgreSQL database the processes use; default the one Django is
            connected to (a test database works: tests write their rows committed, with
            ``transactional_db``).
        workers: Celery worker processes (each serves every queue).
        web_processes: processes of the web server (``BELLAMY_WEB_PROCESSES`` of ``bin/web``).
        relay_sweep: also run the outbox sweep (``relay_events --loop``), for long loads.
        log_dir: where each process's output goes.
        extra_env: more variables (e.g. ``BELLAMY_GRAPH_URL``).
    """

    def __init__(self, *, database_url: str | None = None, workers: int = 1, web_processes: int = 2,
                 relay_sweep: bool = False, log_dir: Path | None = None, extra_env: dict[str, str] | None = None):
        tag = uuid.uuid4().hex[:8]
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir or ROOT / ".data" / "live-stack" / tag
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.tag = tag
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BELLAMY_", "CELERY_", "REDIS_"))},
            "DJANGO_SETTINGS_MODULE": "bellamy.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "live-stack-secret-key-not-for-production-0123"),
            "DATABASE_URL": database_url or current_database_url(),
            "REDIS_URL": "redis://127.0.0.1:6379/10",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/11",
            "BELLAMY_KEY_PREFIX": f"stack{tag}",
            "BELLAMY_EVENTS_URL": "kafka://127.0.0.1:9092",
            "BELLAMY_TOPIC_PREFIX": f"stack{tag}.",
            "BELLAMY_FORWARDER_GROUP": f"stack{tag}-forwarder",
            "BELLAMY_NOTIFICATIONS_URL": "mongodb://127.0.0.1:27017",
            "BELLAMY_MONGO_DATABASE": f"bellamy_stack_{tag}",
            "BELLAMY_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PYTHON": sys.executable,
            "BELLAMY_WEB_PROCESSES": str(web_processes),
            **(extra_env or {}),
        }
        self.workers = workers
        self.relay_sweep = relay_sweep
        self.processes: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        self.processes[name] = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def start_web(self) -> None:
        """Start only the web server (``bin/web``); :meth:`start` calls it. Use
        :meth:`wait_web` to wait until it answers."""
        self._start("web", [str(ROOT / "bin" / "web")])

    def wait_web(self, timeout: float = 60.0) -> None:
        """Wait until ``GET /healthz`` answers 200.

        Raises:
            RuntimeError: a process exited or the web server did not answer in time.
        """
        self._wait(lambda: self._http_ok("/healthz"), "web", time.monotonic() + timeout)

    def start(self, timeout: float = 90.0) -> LiveStack:
        """Start every process and wait until each is ready.

        Raises:
            RuntimeError: a process exited or was not ready within ``timeout`` seconds
                (the message holds the tail of its log).
        """
        self.start_web()
        for n in range(self.workers):
            self._start(f"worker{n}", [str(VENV_BIN / "celery"), "-A", "bellamy", "worker", "-Q",
                                       "scoring,graph,notifications,trends,default", "-n", f"w{n}-{self.tag}@%h",
                                       "--pool", "threads", "--concurrency", "4", "--loglevel", "INFO",
                                       "--without-gossip", "--without-mingle", "--without-heartbeat"])
        self._start("forwarder", [sys.executable, "manage.py", "run_event_forwarder",
                                  "--liveness-file", str(self.log_dir / "forwarder.alive")])
        if self.relay_sweep:
            # The outbox sweep (beat's relay-outbox task in production): with several web
            # processes, a relay may hold a row back behind an older row of its key that
            # another process is sending; the sweep sends it. Off by default: a cold sweep
            # that locks a fresh row first delays it by its Kafka producer's start.
            self._start("relay", [sys.executable, "manage.py", "relay_events", "--loop", "--interval", "1"])
        deadline = time.monotonic() + timeout
        self._wait(lambda: self._http_ok("/healthz"), "web", deadline)
        for n in range(self.workers):
            self._wait(lambda n=n: b"ready." in (self.log_dir / f"worker{n}.log").read_bytes(), f"worker{n}", deadline)
        self._wait(lambda: b"partitions assigned" in (self.log_dir / "forwarder.log").read_bytes()
                   or (self.log_dir / "forwarder.alive").exists(), "forwarder", deadline)
        return self

    def _http_ok(self, path: str) -> bool:
        try:
            return httpx.get(self.base_url + path, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def _wait(self, ready, name: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            for proc_name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc_name} exited with {proc.returncode}:\n{self.tail(proc_name)}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready in time:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of a process's log."""
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each process (MiB), from /proc; a process with children (the
        web server's worker processes) counts its whole tree."""
        result = {}
        for name, proc in self.processes.items():
            total = sum(_rss_kb(pid) for pid in _process_tree(proc.pid))
            if total:
                result[name] = total / 1024
        return result

    def stop(self) -> None:
        """SIGTERM every process group, then SIGKILL what is left after 15 s; drop the stack's
        MongoDB database."""
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        from pymongo import MongoClient

        client = MongoClient(self.env["BELLAMY_NOTIFICATIONS_URL"], serverSelectionTimeoutMS=3000)
        client.drop_database(self.env["BELLAMY_MONGO_DATABASE"])
        client.close()

    def __enter__(self) -> LiveStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
