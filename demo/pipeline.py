"""The live phase of the demo: run the event pipeline until its backlog is empty.

On the embedded default (in-process bus, eager Celery) every event is handled inside the
commit of the write that published it, so there is nothing to run or wait for.

On the production stack (Kafka bus, Celery on Redis) :func:`pipeline_stack` builds a
:class:`deploy.stack.Stack` — the same supervisord programs, commands, stop signals and
timeouts as ``bin/stack`` and ``tests/live_stack.py`` — with only what the live phase needs:
one Celery worker per queue (when Celery has a broker) and the forwarder (when the bus is
Kafka). No web program (the demo writes through the services in its own process) and no beat:
the drain loop below sweeps the outbox itself, and beat's periodic "trends as of now" would
replace the trends the demo computes as of the dataset's time. The programs get the demo
process's environment, so they work on its database and in its namespace
(``BELLAMY_NAMESPACE``: Redis key prefix, topic prefix, consumer group, MongoDB database);
``make demo`` runs in the namespace ``demo``. supervisord restarts a program that exits (a
broker restart) and stops them all when the demo ends.

:func:`wait_until_drained` then polls until the backlog is empty, several times in a row:

* outbox: no unsent row (the relay sweep runs in the loop, so a failed after-commit relay is
  retried, as the beat sweep would);
* Kafka: the forwarder group's committed offset equals the end offset of every partition of
  every topic of the namespace (lag 0; the forwarder commits a batch only after dispatching it);
* Celery: every queue empty, and no task active, reserved or scheduled (a retry waiting for
  its countdown) on any of the demo's workers, each of which must answer;
* and the ``ProcessedEvent`` count did not change since the previous poll.

A task takes a *batch* of envelopes and records one ``ProcessedEvent`` per (event, task), so
the count moves with events, not tasks, and one task may hold a long batch (it is active
meanwhile). Workers publish follow-up events (``content_score.updated``), so one pass is not
enough; requiring ``stable_polls`` consecutive quiet polls covers those cascades. A probe that
fails (a broker restarting) counts as not quiet and is retried until ``timeout``.
"""

from __future__ import annotations

import logging
import os
import time
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from bellamy.celery import app
from bellamy.events.models import OutboxEvent, ProcessedEvent
from bellamy.events.services import relay_all_pending
from deploy.stack import Stack, StackConfig

logger = logging.getLogger(__name__)


def kafka_bus() -> bool:
    """True when events travel through Kafka (``BELLAMY_EVENTS_URL=kafka://…``)."""
    return settings.BELLAMY_EVENTS["BACKEND"].endswith("KafkaBus")


def eager_celery() -> bool:
    """True when Celery runs tasks in the calling process (``CELERY_BROKER_URL`` unset)."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER)


def pipeline_stack(*, run_dir: Path, environ: Mapping[str, str] | None = None) -> Stack | None:
    """The programs the live phase needs, under supervisord (not started yet).

    Args:
        run_dir: supervisord's configuration and socket, and one ``<program>.log`` per program.
        environ: the programs' environment: default this process's, which the settings were
            read from, so the programs derive the same names (an unset ``BELLAMY_NAMESPACE``
            must stay unset: it means the historical topic names, not ``bellamy.``).
    Returns:
        A :class:`deploy.stack.Stack` with ``worker-<queue>`` for every queue of
        ``settings.BELLAMY_QUEUES`` unless Celery is eager, and ``forwarder`` if the bus is
        Kafka; ``None`` when neither is needed (the embedded default).
    """
    workers = () if eager_celery() else tuple((f"worker-{queue}", (queue,)) for queue in settings.BELLAMY_QUEUES)
    if not workers and not kafka_bus():
        return None
    env = dict(os.environ if environ is None else environ)
    config = StackConfig.from_env(
        env, run_dir=run_dir, log_dir=run_dir, namespace=settings.BELLAMY_NAMESPACE, web=False, beat=False,
        forwarder=kafka_bus(), workers=workers, log_level="WARNING",
    )
    return Stack(config, env)


def restarted_programs(stack: Stack, first_pids: Mapping[str, int]) -> list[str]:
    """The programs of ``stack`` that supervisord started again since ``first_pids``
    (``stack.pids()`` after the start): a crash or a broker outage gives them another pid.
    All of them when supervisord itself does not answer."""
    try:
        pids = stack.pids()
    except (OSError, xmlrpc.client.Error):
        return [program.name for program in stack.programs]
    return [name for name, pid in pids.items() if pid != first_pids.get(name)]


def worker_nodes(stack: Stack | None) -> list[str]:
    """The Celery node names of ``stack``'s workers (``scoring.demo@host``, ...); [] for None."""
    if stack is None:
        return []
    return [stack.node_name(program) for program in stack.programs if program.kind == "worker"]


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


class WorkersNotAnswering(RuntimeError):
    """Some of the demo's workers did not answer an inspect (starting, restarting, or busy
    past the timeout): their tasks are unknown, so the backlog does not count as empty."""


def celery_backlog(nodes: list[str] | None = None) -> int:
    """Tasks waiting in the queues plus those active, reserved or scheduled (a retry waiting
    for its countdown) on the workers; 0 when Celery is eager.

    Args:
        nodes: the workers to ask (Celery node names, :func:`worker_nodes`); default every
            worker that answers on the broker.
    Raises:
        WorkersNotAnswering: a worker of ``nodes`` did not reply within a second.
        kombu.exceptions.OperationalError: the broker did not answer.
    """
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
    # With a destination, the replies return as soon as every node answered.
    inspect = app.control.inspect(destination=nodes or None, timeout=1.0, limit=len(nodes) if nodes else None)
    busy = 0
    for ask in (inspect.active, inspect.reserved, inspect.scheduled):
        replies = ask() or {}
        silent = sorted(set(nodes or ()) - set(replies))
        if silent:
            raise WorkersNotAnswering(", ".join(silent))
        busy += sum(len(tasks) for tasks in replies.values())
    return waiting + busy


@dataclass
class DrainResult:
    """How draining went: polls made, seconds, events relayed by the sweep, and the final
    backlog (all zero when drained; -1 where the last probe failed)."""

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
                       nodes: list[str] | None = None) -> DrainResult:
    """Poll outbox, Kafka lag, Celery queues and workers, and ``ProcessedEvent`` until all are
    quiet for ``stable_polls`` polls in a row (see the module docstring) or ``timeout`` seconds
    pass.

    Args:
        nodes: the Celery workers whose tasks count (:func:`worker_nodes`); each must answer.
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
        relayed += relay_all_pending().sent
        unsent = OutboxEvent.objects.filter(sent_at__isnull=True).count()
        try:
            lag = kafka_lag()
            backlog = celery_backlog(nodes)
        except WorkersNotAnswering as exc:  # restarting or busy: not quiet, ask again
            logger.info("demo: workers not answering yet (%s)", exc)
            backlog = -1
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
