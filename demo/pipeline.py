"""The live phase of the demo: run the event pipeline until its backlog is empty.

On the embedded default (in-process bus, eager Celery) every event is handled inside the
commit of the write that published it, so there is nothing to run or wait for.

On the production stack (Kafka bus, Celery on Redis) :class:`PipelineProcesses` starts, with
the demo's own environment (database, topic prefix, consumer group, key prefix, MongoDB
database), the same processes ``bin/stack`` runs for events — one forwarder
(``manage.py run_event_forwarder``) and one Celery worker per queue (threads pool, 4 each) —
and stops them (by their own pids) when the demo ends. :func:`wait_until_drained` then polls
until the backlog is empty, several times in a row:

* outbox: no unsent row (the relay sweep runs in the loop, so a failed after-commit relay is
  retried, as the beat sweep would);
* Kafka: the forwarder group's committed offset equals the end offset of every partition of
  every demo topic (lag 0);
* Celery: every queue empty, and no task active or reserved on the worker;
* and the ``ProcessedEvent`` count did not change since the previous poll.

Workers publish follow-up events (``content_score.updated``), so one pass is not enough;
requiring ``stable_polls`` consecutive quiet polls covers those cascades. A probe that fails
(a broker restarting) counts as not quiet and is retried until ``timeout``. Dedicated processes
are more robust than reusing a running ``bin/stack``: its processes would serve another
database and topic prefix, and this way the demo owns what it waits for.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from bellamy.celery import app
from bellamy.events.models import OutboxEvent, ProcessedEvent
from bellamy.events.services import relay_all_pending

logger = logging.getLogger(__name__)


def kafka_bus() -> bool:
    """True when events travel through Kafka (``BELLAMY_EVENTS_URL=kafka://…``)."""
    return settings.BELLAMY_EVENTS["BACKEND"].endswith("KafkaBus")


def eager_celery() -> bool:
    """True when Celery runs tasks in the calling process (``CELERY_BROKER_URL`` unset)."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER)


class PipelineProcesses:
    """Forwarder + Celery worker (one per queue) subprocesses for the demo (only what the settings need).

    Args:
        log_dir: where ``forwarder.log`` and ``worker-<queue>.log`` go.
    """

    def __init__(self, *, log_dir: Path):
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands: dict[str, list[str]] = {}
        self.restarts = 0

    def _start(self, name: str, args: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        mode = "ab" if name in self.commands else "wb"  # a restart appends to its log
        self.commands[name] = args
        log = open(self.log_dir / f"{name}.log", mode)  # noqa: SIM115 (closed with the process)
        self.processes[name] = subprocess.Popen(
            args, cwd=settings.BASE_DIR, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def start(self, timeout: float = 90.0) -> PipelineProcesses:
        """Start the needed processes and wait until each is ready.

        Raises:
            RuntimeError: a process exited or was not ready in ``timeout`` seconds.
        """
        bin_dir = Path(sys.executable).parent
        if not eager_celery():
            for queue in settings.BELLAMY_QUEUES:  # one worker per queue, as bin/stack
                self._start(f"worker-{queue}", [
                    str(bin_dir / "celery"), "-A", "bellamy", "worker", "-Q", queue,
                    "-n", f"demo-{queue}-{os.getpid()}@%h", "--pool", "threads", "--concurrency", "4",
                    "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                ])
        if kafka_bus():
            alive = self.log_dir / "forwarder.alive"
            alive.unlink(missing_ok=True)
            self._start("forwarder", [sys.executable, "manage.py", "run_event_forwarder",
                                      "--liveness-file", str(alive)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")
            workers = sum(1 for name in self.processes if name.startswith("worker"))
            ready = (not workers or self._workers_ready(workers)) and (
                "forwarder" not in self.processes or (self.log_dir / "forwarder.alive").exists())
            if ready:
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("demo pipeline processes not ready in time:\n"
                           + "\n".join(self.tail(n) for n in self.processes))

    def _workers_ready(self, count: int) -> bool:
        try:
            names = {name for reply in app.control.ping(timeout=1.0) for name in reply}
        except Exception:  # noqa: BLE001 — broker not answering yet
            return False
        return sum(1 for name in names if name.startswith("demo-") and name.split("-")[-1].split("@")[0]
                   == str(os.getpid())) >= count

    def ensure_running(self) -> None:
        """Restart any process that exited (e.g. after a broker restart); counted in ``restarts``."""
        for name, proc in list(self.processes.items()):
            if proc.poll() is not None:
                logger.warning("demo: %s exited with %s; restarting it", name, proc.returncode)
                self.restarts += 1
                self._start(name, self.commands[name])

    def tail(self, name: str, lines: int = 30) -> str:
        """The last lines of a process's log."""
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM each started process group, SIGKILL after 20 s."""
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def __enter__(self) -> PipelineProcesses:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class KafkaLag:
    """Measures the forwarder group's lag on the demo topics; keeps its Kafka clients between
    calls and rebuilds them after an error (e.g. the broker restarting)."""

    def __init__(self):
        self.admin = self.consumer = None

    def __call__(self) -> int:
        """Messages of the demo topics not yet committed by the forwarder group (0 when the
        bus is not Kafka).

        Raises:
            kafka.errors.KafkaError: the broker did not answer (the clients are rebuilt next call).
        """
        if not kafka_bus():
            return 0
        from kafka import KafkaAdminClient, KafkaConsumer
        from kafka.structs import TopicPartition

        from bellamy.events.registry import all_topics

        # A group-less consumer warns "disabling auto-commit"; nothing to act on.
        logging.getLogger("kafka").setLevel(logging.ERROR)
        options = settings.BELLAMY_EVENTS["OPTIONS"]
        servers = options["bootstrap_servers"]
        try:
            if self.admin is None:
                self.admin = KafkaAdminClient(bootstrap_servers=servers, client_id="demo-lag")
                self.consumer = KafkaConsumer(bootstrap_servers=servers, client_id="demo-lag")
            group = settings.BELLAMY_FORWARDER_GROUP
            committed = self.admin.list_group_offsets(group).get(group, {})
            partitions = [TopicPartition(topic, partition)
                          for topic in all_topics(prefix=options.get("topic_prefix", ""))
                          for partition in self.consumer.partitions_for_topic(topic) or ()]
            ends = self.consumer.end_offsets(partitions) if partitions else {}
        except Exception:
            self.close()
            raise
        return sum(max(0, end - (committed[tp].offset if tp in committed else 0)) for tp, end in ends.items())

    def close(self) -> None:
        """Close the clients (ignoring errors)."""
        for client in (self.consumer, self.admin):
            try:
                if client is not None:
                    client.close()
            except Exception:  # noqa: BLE001, S110 — closing a broken client
                pass
        self.admin = self.consumer = None


def celery_backlog() -> int:
    """Tasks waiting in the demo's queues plus active/reserved on workers (0 when eager)."""
    if eager_celery():
        return 0
    waiting = 0
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        for queue in settings.BELLAMY_QUEUES:
            try:
                waiting += channel.queue_declare(queue=queue, passive=True).message_count
            except Exception:  # noqa: BLE001 — a queue never used does not exist yet
                continue
    inspect = app.control.inspect(timeout=1.0)
    busy = sum(len(v) for v in (inspect.active() or {}).values())
    busy += sum(len(v) for v in (inspect.reserved() or {}).values())
    return waiting + busy


@dataclass
class DrainResult:
    """How draining went: polls made, seconds, events relayed by the sweep, and the final
    backlog (all zero when drained)."""

    polls: int
    seconds: float
    relayed: int
    outbox_unsent: int
    kafka_lag: int
    celery_backlog: int

    @property
    def drained(self) -> bool:
        """True when nothing was left anywhere."""
        return not (self.outbox_unsent or self.kafka_lag or self.celery_backlog)


def wait_until_drained(*, timeout: float = 600.0, interval: float = 1.0, stable_polls: int = 3,
                       processes: PipelineProcesses | None = None) -> DrainResult:
    """Poll outbox, Kafka lag, Celery queues and ``ProcessedEvent`` until all are quiet for
    ``stable_polls`` polls in a row (see the module docstring) or ``timeout`` seconds pass.

    Args:
        processes: restarted when one of them exited (:meth:`PipelineProcesses.ensure_running`).
    Returns:
        :class:`DrainResult` (``drained`` False on timeout).
    """
    started = time.monotonic()
    quiet = polls = relayed = 0
    processed = -1
    unsent = lag = backlog = 0
    kafka_lag = KafkaLag()
    while True:
        polls += 1
        if processes is not None:
            processes.ensure_running()
        relayed += relay_all_pending().sent
        unsent = OutboxEvent.objects.filter(sent_at__isnull=True).count()
        try:
            lag = kafka_lag()
            backlog = celery_backlog()
        except Exception as exc:  # noqa: BLE001 — a broker restarting: not quiet, poll again
            logger.warning("demo: backlog probe failed (%s: %s); retrying", type(exc).__name__, exc)
            lag = backlog = -1
        now_processed = ProcessedEvent.objects.count()
        if unsent == 0 and lag == 0 and backlog == 0 and now_processed == processed:
            quiet += 1
        else:
            quiet = 0
        processed = now_processed
        if quiet >= stable_polls or time.monotonic() - started > timeout:
            break
        time.sleep(interval)
    kafka_lag.close()
    return DrainResult(polls, time.monotonic() - started, relayed, unsent, lag, backlog)
