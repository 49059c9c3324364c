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
import signal
import socket
import subprocess
import time
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


#: The services of bin/services by a fragment of their command line (the MongoDB server is the
#: stand-in of ../shared/SERVICES.md).
SERVICE_COMMANDS = {"postgresql": "bin/postgres ", "redis": "redis-server", "kafka": "kafka.Kafka",
                    "neo4j": "org.neo4j.", "mongodb": "secantusd"}


def _cpu_ticks(pid: int, *, with_children: bool) -> int:
    """User + system clock ticks of ``pid`` (and of its exited, reaped children)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text[text.rfind(")") + 2:].split()  # fields[0] is the state (field 3)
    return sum(int(v) for v in fields[11:15 if with_children else 13])


def cpu_seconds_of(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each named group of process trees: every root with its
    reaped children (their ``cutime``/``cstime``: PostgreSQL's exited backends), plus every live
    descendant. Compare two calls for the CPU a load cost each program."""
    hz = os.sysconf("SC_CLK_TCK")
    return {name: sum(_cpu_ticks(root, with_children=True)
                      + sum(_cpu_ticks(p, with_children=False) for p in _process_tree(root)[1:])
                      for root in pids) / hz
            for name, pids in roots.items()}


def service_pids() -> dict[str, list[int]]:
    """``{service: [root pids]}`` of the running services (SERVICE_COMMANDS), from /proc."""
    commands: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            commands[int(entry.name)] = (parent, command)
    found: dict[str, list[int]] = {name: [] for name in SERVICE_COMMANDS}
    for pid, (parent, command) in commands.items():
        for name, fragment in SERVICE_COMMANDS.items():
            if fragment in command and fragment not in commands.get(parent, (0, ""))[1]:
                found[name].append(pid)
    return found


def _rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)


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
        relay_sweep: also run the outbox relay sweep (celery beat), for long loads.
        per_queue_workers: one worker per queue (``worker-scoring``, ...), as ``bin/stack``,
            instead of ``workers`` workers serving every queue.
    """

    def __init__(self, *, database_url: str | None = None, workers: int = 1, log_dir: Path | None = None,
                 extra_env: dict[str, str] | None = None, beat: bool = False, per_queue_workers: bool = False,
                 web_processes: int = 1, relay_sweep: bool = False):
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
            # /metrics: every process of the stack counts into one directory; scrapes need the token.
            "PROMETHEUS_MULTIPROC_DIR": str(self.log_dir / "metrics"),
            "BELLAMY_METRICS_TOKEN": f"metrics-{tag}",
            **(extra_env or {}),
        }
        self.metrics_token = self.env["BELLAMY_METRICS_TOKEN"]
        self.workers = workers
        layout = {} if per_queue_workers else {"workers": tuple((f"worker{n}", QUEUES) for n in range(workers))}
        self.stack = Stack(
            StackConfig.from_env(
                self.env, run_dir=self.log_dir, log_dir=self.log_dir, host="127.0.0.1", port=self.port,
                namespace=f"stack{tag}", beat=beat or relay_sweep, log_level="WARNING", web_processes=web_processes, **layout,
            ),
            self.env,
        )
        self.stop_seconds: float | None = None
        #: Programs started alone, outside supervisord (:meth:`start_web`).
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, timeout: float = 90.0) -> LiveStack:
        """Start every program and wait until each is ready.

        Raises:
            RuntimeError: a program exited for good or was not ready within ``timeout`` seconds
                (the message holds the tail of its log).
        """
        self.stack.start(timeout=timeout)
        return self

    def start_web(self) -> None:
        """Start only the web server's command (``deploy.stack.web_command``), as a plain
        child process outside supervisord — for tests of the server program itself (its
        processes, its own SIGTERM handling). :meth:`wait_web` waits until it answers;
        :meth:`stop` stops it."""
        web = next(p for p in self.stack.programs if p.name == "web")
        log = open(self.log_dir / "web.log", "wb")  # noqa: SIM115 (closed with the process)
        self.processes["web"] = subprocess.Popen(
            list(web.command), cwd=ROOT, env={"BELLAMY_DB_POOL_MAX": str(web.db_pool_max), **self.env, **dict(web.env)},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def wait_web(self, timeout: float = 60.0) -> None:
        """Wait until the web server started by :meth:`start_web` answers ``GET /healthz``.

        Raises:
            RuntimeError: it exited, or did not answer within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        web = self.processes["web"]
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise RuntimeError(f"web exited with {web.returncode}:\n{self.tail('web')}")
            if self.stack._http_ok("/healthz"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"web not ready in time:\n{self.tail('web')}")

    def pids(self) -> dict[str, int]:
        """``{program: pid}`` as supervisord reports them (0 for a program not running)."""
        return self.stack.pids()

    def tail(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of a program's log."""
        return self.stack.tail(name, lines)

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each program (MiB), from /proc; a program with children (the web
        server's worker processes) counts its whole tree."""
        result = {}
        for name, pid in self.pids().items():
            total = sum(_rss_kb(p) for p in _process_tree(pid)) if pid else 0
            if total:
                result[name] = total / 1024
        return result

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each program's process tree and by each service
        (:func:`cpu_seconds_of`); the services are the machine's, shared with anything else
        that uses them."""
        roots = {name: [pid] for name, pid in self.pids().items() if pid}
        return cpu_seconds_of({**roots, **service_pids()})

    def metric_totals(self) -> dict[str, float]:
        """One scrape of ``/metrics`` (with the stack's token), summed per sample name over
        its labels (histograms: ``_count`` and ``_sum``, not the buckets):
        ``{"bellamy_events_published_total": 412.0, …}``; a family announced without samples
        (nothing counted yet) appears under its family name with 0. Lets a benchmark show
        which families its traffic moved.

        Raises:
            RuntimeError: ``/metrics`` did not answer 200.
        """
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        response = httpx.get(f"{self.base_url}/metrics", timeout=30,
                             headers={"Authorization": f"Bearer {self.metrics_token}"})
        if response.status_code != 200:
            raise RuntimeError(f"/metrics answered {response.status_code}: {response.text[:300]}")
        totals: dict[str, float] = {}
        for family in text_string_to_metric_families(response.text):
            if not family.samples:
                totals[family.name] = 0.0
            for sample in family.samples:
                if not sample.name.endswith("_bucket"):  # cumulative per bound: no meaningful sum
                    totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        return totals

    def task_runs(self, task: str) -> tuple[int, float]:
        """``(runs, seconds)`` of Celery task ``task`` on every worker so far, from ``/metrics``
        (``bellamy_celery_task_duration_seconds`` ``_count`` and ``_sum``, over queues)."""
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        response = httpx.get(f"{self.base_url}/metrics", timeout=30,
                             headers={"Authorization": f"Bearer {self.metrics_token}"})
        if response.status_code != 200:
            raise RuntimeError(f"/metrics answered {response.status_code}: {response.text[:300]}")
        runs, seconds = 0, 0.0
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.labels.get("task") != task:
                    continue
                if sample.name == "bellamy_celery_task_duration_seconds_count":
                    runs += int(sample.value)
                elif sample.name == "bellamy_celery_task_duration_seconds_sum":
                    seconds += sample.value
        return runs, seconds

    def stop(self) -> None:
        """SIGTERM supervisord (it stops every program, SIGKILL after each one's stop timeout);
        drop the stack's MongoDB database, if it has one. ``stop_seconds`` says how long the shutdown took.
        Programs started alone (:meth:`start_web`) get SIGTERM, then SIGKILL after 15 s."""
        self.stop_seconds = self.stack.stop()
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        if not self.env["BELLAMY_NOTIFICATIONS_URL"]:
            return  # notifications in the ORM store (PostgreSQL): no MongoDB database
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
