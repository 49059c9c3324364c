"""The Bellamy Book stack under supervisord: one program per process type.

Programs (``StackConfig.programs``): ``web`` (the ASGI server, HTTP + WebSocket; its command is
:func:`web_command`, the one place that names the server), one Celery worker per queue
(``worker-scoring``, ``worker-graph``, ...), ``beat`` and ``forwarder`` (Kafka → Celery). The
process manager is supervisord (supervisor on PyPI, as Zulip runs its processes): it restarts
a program that exits, with a linear back-off when it dies right after starting, never stops
one program because another died, and on SIGTERM stops them all at once, each within its own
stop timeout (``Program.stop_wait``, all below :data:`SHUTDOWN_SECONDS`) before SIGKILL.

Used by ``bin/stack`` (``python -m deploy.stack up``), by ``tests/live_stack.py`` (LiveStack,
the end-to-end tests and benchmarks), by the demo and by the fault drills (``deploy.drill``),
so all of them run the same programs with the same stop signals and timeouts.

Each program gets ``BELLAMY_DB_POOL_MAX``, the most PostgreSQL connections one of its processes
may hold; :func:`connection_budget` sums them so the stack stays below the server's
``max_connections`` (README "Connection budget").

Command line::

    python -m deploy.stack up       migrate, check the connection budget, run supervisord (foreground)
    python -m deploy.stack env      the environment the stack uses, as shell exports
    python -m deploy.stack config   the rendered supervisord configuration
    python -m deploy.stack budget   the PostgreSQL connection budget against the server's limit
    python -m deploy.stack ctl ...  supervisorctl on the running stack (status, restart bellamy:web, ...)
    python -m deploy.stack run NAME exec one program's command (systemd units, containers)
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from bellamy.config import checkout_secret_key

ROOT = Path(__file__).resolve().parent.parent
#: The virtualenv's bin directory (daphne, celery, supervisord live next to the interpreter).
BIN = Path(sys.executable).parent
TEMPLATE = Path(__file__).resolve().parent / "supervisord.conf.in"
GROUP = "bellamy"
#: The Celery queues, one worker each (``settings.BELLAMY_QUEUES``; a test keeps them equal).
QUEUES = ("scoring", "graph", "notifications", "trends", "default")
#: Queues consumed serially: their worker runs one task at a time whatever the configured
#: concurrency. The graph worker applies weight changes in delivery order (the order guarantee
#: of ``bellamy/events/routes.py``); with 4 threads, concurrent batches of one pair both read
#: the old weight in Neo4j and one increment was lost (the drills were short by 2-13 mentions).
SERIAL_QUEUES = frozenset({"graph"})
#: SIGTERM to supervisord ends every program within this many seconds: each program's
#: ``stop_wait`` (then SIGKILL) is below it, and they are stopped at the same time.
SHUTDOWN_SECONDS = 10
#: A program that dies within this many seconds of starting counts as a failed start and is
#: retried after a back-off of 1 s, 2 s, 3 s, ... (supervisord's ``startsecs``).
START_SECONDS = 5
#: Failed starts in a row before supervisord gives up on a program (FATAL): ~1000 means never
#: during an outage (the back-off sum of 1000 retries is days).
START_RETRIES = 1000
#: Connections kept free on the server for manage.py commands, migrations and psql.
ADMIN_CONNECTIONS = 5


def web_command(*, host: str, port: int, processes: int = 1) -> list[str]:
    """The web program's command line: ``bin/web`` (Granian, HTTP + WebSocket), THE one
    definition of the ASGI server and its options.

    ``bin/web`` reads ``HOST``, ``PORT`` and ``BELLAMY_WEB_PROCESSES`` from its environment,
    which :meth:`StackConfig.programs` sets from ``host``, ``port`` and ``processes``.
    """
    return [str(ROOT / "bin" / "web")]


@dataclass(frozen=True)
class Program:
    """One supervisord program.

    Attributes:
        name: program name (``web``, ``worker-scoring``, ``beat``, ``forwarder``).
        kind: ``web``, ``worker``, ``beat`` or ``forwarder`` (how readiness is checked).
        command: argv.
        db_pool_max: PostgreSQL connections one process of the program may hold
            (``BELLAMY_DB_POOL_MAX`` in its environment).
        processes: OS processes of the program that each hold ``db_pool_max`` (web server
            processes, prefork pool children).
        stop_signal: the signal that asks it to stop cleanly.
        stop_wait: seconds between that signal and SIGKILL.
        env: variables of this program only (besides ``BELLAMY_DB_POOL_MAX``).
    """

    name: str
    kind: str
    command: tuple[str, ...]
    db_pool_max: int
    processes: int = 1
    stop_signal: str = "TERM"
    stop_wait: int = 8
    env: tuple[tuple[str, str], ...] = ()

    @property
    def connections(self) -> int:
        """The most PostgreSQL connections the program holds (``db_pool_max × processes``)."""
        return self.db_pool_max * self.processes


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = environ.get(name, "")
    try:
        value = int(raw) if raw.strip() else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ValueError(f"{name}={value} is below {minimum}")
    return value


@dataclass
class StackConfig:
    """What the stack runs and how big each program is.

    Attributes:
        run_dir: supervisord's configuration, socket and pid file, the beat schedule, the
            forwarder's liveness file.
        log_dir: one ``<program>.log`` per program, plus ``supervisord.log``.
        host, port: where the web program listens.
        namespace: part of the Celery worker node names (``<queues>.<namespace>@host``).
        web: run the web program.
        web_processes: web server processes (``BELLAMY_WEB_PROCESSES``).
        web_db_pool_max: connections per web process (``BELLAMY_WEB_DB_POOL_MAX``): request
            threads and the outbox relay thread share it.
        workers: ``(program name, queues)`` per Celery worker; default one per queue.
        worker_pool: Celery pool (``threads`` or ``prefork``; ``BELLAMY_WORKER_POOL``).
        worker_concurrency: Celery concurrency per worker (``BELLAMY_WORKER_CONCURRENCY``);
            the workers of :data:`SERIAL_QUEUES` run with 1.
        beat: run celery beat (the outbox relay sweep and periodic tasks).
        forwarder: run the Kafka → Celery forwarder.
        log_level: Celery log level of beat (workers log at INFO at least: their readiness
            is their "ready." line).
    """

    run_dir: Path
    log_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    namespace: str = "bellamy"
    web: bool = True
    web_processes: int = 1
    web_db_pool_max: int = 8
    workers: tuple[tuple[str, tuple[str, ...]], ...] = tuple((f"worker-{q}", (q,)) for q in QUEUES)
    worker_pool: str = "threads"
    worker_concurrency: int = 4
    beat: bool = True
    forwarder: bool = True
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides) -> StackConfig:
        """A configuration from ``BELLAMY_WEB_PROCESSES``, ``BELLAMY_WEB_DB_POOL_MAX``,
        ``BELLAMY_WORKER_POOL``, ``BELLAMY_WORKER_CONCURRENCY``, ``BELLAMY_NAMESPACE``, ``HOST``,
        ``PORT`` (unset: the defaults above), then ``overrides``.

        Raises:
            ValueError: a variable is not a positive integer, or the pool is unknown.
        """
        values = {
            "host": environ.get("HOST") or "127.0.0.1",
            "port": _int(environ, "PORT", 8000),
            "namespace": environ.get("BELLAMY_NAMESPACE") or "bellamy",
            "web_processes": _int(environ, "BELLAMY_WEB_PROCESSES", os.cpu_count() or 1),
            "web_db_pool_max": _int(environ, "BELLAMY_WEB_DB_POOL_MAX", 8),
            "worker_pool": environ.get("BELLAMY_WORKER_POOL") or "threads",
            "worker_concurrency": _int(environ, "BELLAMY_WORKER_CONCURRENCY", 4),
        }
        values.update(overrides)
        config = cls(**values)
        if config.worker_pool not in ("threads", "prefork"):
            raise ValueError(f"BELLAMY_WORKER_POOL={config.worker_pool!r}: expected threads or prefork")
        return config

    def programs(self) -> list[Program]:
        """Every program of the stack, in start order (web first: it answers the probes)."""
        result = []
        if self.web:
            result.append(Program(
                "web", "web", tuple(web_command(host=self.host, port=self.port, processes=self.web_processes)),
                db_pool_max=self.web_db_pool_max, processes=self.web_processes,
                # For a server script that reads its address and size from the environment.
                env=(("HOST", self.host), ("PORT", str(self.port)), ("BELLAMY_WEB_PROCESSES", str(self.web_processes))),
                # Granian closes its sockets on SIGTERM and kills its workers after 5 s
                # (bin/web); a slow interpreter exit on a loaded machine meets SIGKILL at 6 s.
                stop_wait=6,
            ))
        for name, queues in self.workers:
            concurrency = 1 if SERIAL_QUEUES.intersection(queues) else self.worker_concurrency
            if self.worker_pool == "threads":
                # One process: a connection per pool thread, plus the outbox relay thread (tasks
                # publish follow-up events).
                worker_pool_max, worker_processes = concurrency + 1, 1
            else:
                # Prefork: each child process holds its own (task + relay thread); the parent none.
                worker_pool_max, worker_processes = 2, concurrency
            result.append(Program(
                name, "worker",
                (str(BIN / "celery"), "-A", "bellamy", "worker", "-Q", ",".join(queues),
                 "-n", f"{name.removeprefix('worker-')}.{self.namespace}@%h",
                 "--pool", self.worker_pool, "--concurrency", str(concurrency),
                 "--loglevel", "DEBUG" if self.log_level == "DEBUG" else "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"),
                db_pool_max=worker_pool_max, processes=worker_processes,
                # SIGTERM = Celery's warm shutdown: finish the running tasks, take no new ones.
                # A task still running after 8 s is killed; acknowledged late, it is redelivered.
                stop_wait=8,
            ))
        if self.beat:
            result.append(Program(
                "beat", "beat",
                (str(BIN / "celery"), "-A", "bellamy", "beat", "--schedule", str(self.run_dir / "celerybeat-schedule"),
                 "--loglevel", self.log_level),
                # Beat only sends tasks; one connection covers anything a signal handler reads.
                db_pool_max=1, stop_wait=6,
            ))
        if self.forwarder:
            result.append(Program(
                "forwarder", "forwarder",
                (sys.executable, str(ROOT / "manage.py"), "run_event_forwarder",
                 "--liveness-file", str(self.run_dir / "forwarder.alive")),
                # Dispatch only enqueues; dead letters and its relay thread may write.
                db_pool_max=2,
                # Its SIGTERM handler finishes the batch in hand, commits offsets and closes.
                stop_wait=6,
            ))
        return result


def connection_budget(programs: list[Program]) -> int:
    """The most PostgreSQL connections the programs hold together (sum of ``connections``)."""
    return sum(program.connections for program in programs)


def budget_table(programs: list[Program]) -> str:
    """A plain-text table: program, processes, pool per process, connections; then the sum."""
    rows = [("program", "processes", "BELLAMY_DB_POOL_MAX", "connections")]
    rows += [(p.name, str(p.processes), str(p.db_pool_max), str(p.connections)) for p in programs]
    rows.append(("total", str(sum(p.processes for p in programs)), "", str(connection_budget(programs))))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def server_connection_limit(database_url: str) -> tuple[int, int]:
    """``(max_connections, superuser_reserved_connections)`` of the PostgreSQL server.

    Raises:
        psycopg.Error: the server does not answer.
    """
    import psycopg

    with psycopg.connect(_libpq_url(database_url), connect_timeout=5) as conn:
        limit = int(conn.execute("SHOW max_connections").fetchone()[0])
        reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
    return limit, reserved


def check_budget(programs: list[Program], max_connections: int, reserved: int) -> str | None:
    """None when the programs fit below the server's limit, else the reason.

    The budget must leave the superuser-reserved slots and :data:`ADMIN_CONNECTIONS` free.
    """
    usable = max_connections - reserved - ADMIN_CONNECTIONS
    total = connection_budget(programs)
    if total > usable:
        return (f"the stack may hold {total} PostgreSQL connections but the server allows {usable} "
                f"(max_connections {max_connections} - {reserved} reserved - {ADMIN_CONNECTIONS} for admin); "
                "lower BELLAMY_WEB_DB_POOL_MAX / BELLAMY_WORKER_CONCURRENCY or raise max_connections")
    return None


def _libpq_url(url: str) -> str:
    return re.sub(r"^postgres(ql)?://|^pgsql://", "postgresql://", url)


def _escape(value: str) -> str:
    """Escape ``%`` for supervisord's ConfigParser interpolation."""
    return value.replace("%", "%%")


def render_config(config: StackConfig, programs: list[Program] | None = None) -> str:
    """The supervisord configuration of ``config`` (``deploy/supervisord.conf.in`` filled in)."""
    programs = config.programs() if programs is None else programs
    sections = []
    for program in programs:
        sections.append("\n".join([
            f"[program:{program.name}]",
            f"command = {_escape(shlex.join(program.command))}",
            f"directory = {_escape(str(ROOT))}",
            "environment = " + ",".join(
                f'{key}="{_escape(value)}"'
                for key, value in (("BELLAMY_DB_POOL_MAX", str(program.db_pool_max)), ("PYTHONUNBUFFERED", "1"),
                                   *program.env)),
            "autostart = true",
            "autorestart = true",
            f"startsecs = {START_SECONDS}",
            f"startretries = {START_RETRIES}",
            f"stopsignal = {program.stop_signal}",
            f"stopwaitsecs = {program.stop_wait}",
            "stopasgroup = true",
            "killasgroup = true",
            "redirect_stderr = true",
            f"stdout_logfile = {_escape(str(config.log_dir / (program.name + '.log')))}",
            "stdout_logfile_maxbytes = 50MB",
            "stdout_logfile_backups = 3",
            "",
        ]))
    return Template(TEMPLATE.read_text()).substitute(
        socket=_escape(str(config.run_dir / "supervisor.sock")),
        run_dir=_escape(str(config.run_dir)),
        log_dir=_escape(str(config.log_dir)),
        root=_escape(str(ROOT)),
        program_names=",".join(p.name for p in programs),
        programs="\n".join(sections),
    )


def default_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the main stack (``bin/stack``): ``environ`` plus, for every variable it
    does not set, the services that ``bin/services`` runs (their ``BELLAMY_*_PORT`` honoured)
    and a secret key kept in ``.data/secret_key``."""
    env = dict(environ)
    secret_file = ROOT / ".data" / "secret_key"
    if not env.get("DJANGO_SECRET_KEY"):
        checkout_secret_key(ROOT)  # the checkout's key, the one make run signs with too
    ports = {name: environ.get(f"BELLAMY_{name}_PORT") or default for name, default in
             (("PG", "5432"), ("REDIS", "6379"), ("KAFKA", "9092"), ("MONGO", "27017"), ("NEO4J", "7687"))}
    defaults = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secret_file.read_text().strip() if secret_file.is_file() else "",
        "DATABASE_URL": f"postgres://bellamy:bellamy@127.0.0.1:{ports['PG']}/bellamy",
        "REDIS_URL": f"redis://127.0.0.1:{ports['REDIS']}/0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{ports['REDIS']}/1",
        "BELLAMY_EVENTS_URL": f"kafka://127.0.0.1:{ports['KAFKA']}",
        "BELLAMY_NOTIFICATIONS_URL": f"mongodb://127.0.0.1:{ports['MONGO']}",
        "BELLAMY_GRAPH_URL": f"bolt://neo4j:neo4j@127.0.0.1:{ports['NEO4J']}",
        # Every program counts into one directory per deployment; /metrics (web) sums it.
        "PROMETHEUS_MULTIPROC_DIR": str(ROOT / ".data" / "metrics" / (environ.get("BELLAMY_NAMESPACE") or "bellamy")),
    }
    for key, value in defaults.items():
        if not env.get(key):
            env[key] = value
    return env


class StackError(RuntimeError):
    """A program of the stack did not become ready, or supervisord did not answer."""


@dataclass
class Stack:
    """One supervisord running a :class:`StackConfig`'s programs with environment ``env``.

    ``start()`` writes the configuration into ``config.run_dir``, starts ``supervisord -n`` in
    its own session and waits until every program is ready; ``stop()`` sends it SIGTERM and
    waits. ``info()``/``pids()`` ask supervisord (XML-RPC over its unix socket).
    """

    config: StackConfig
    env: dict[str, str]
    supervisord: subprocess.Popen | None = field(default=None, init=False)
    _celery: object = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.programs = self.config.programs()
        self.conf_path = self.config.run_dir / "supervisord.conf"

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the web program."""
        return f"http://{self.config.host}:{self.config.port}"

    def write_config(self) -> Path:
        """Render the configuration into ``run_dir/supervisord.conf`` and return its path."""
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(render_config(self.config, self.programs))
        return self.conf_path

    def start(self, timeout: float = 90.0) -> Stack:
        """Start supervisord and wait until every program is ready (web answers ``/healthz``,
        each worker logged ``ready.``, the forwarder touched its liveness file).

        Raises:
            StackError: supervisord or a program did not become ready within ``timeout``
                seconds (the message holds the tail of the program's log); the stack is
                stopped first.
        """
        self.write_config()
        for program in self.programs:  # fresh logs: readiness is read from them
            (self.config.log_dir / f"{program.name}.log").unlink(missing_ok=True)
        (self.config.run_dir / "forwarder.alive").unlink(missing_ok=True)
        log = open(self.config.log_dir / "supervisord.out", "wb")  # noqa: SIM115 (child holds it)
        self.supervisord = subprocess.Popen(
            [str(BIN / "supervisord"), "-n", "-c", str(self.conf_path)], cwd=ROOT,
            env={**self.env, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def rpc(self) -> xmlrpc.client.ServerProxy:
        """An XML-RPC proxy of supervisord (``proxy.supervisor.getAllProcessInfo()``, ...)."""
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.config.run_dir / 'supervisor.sock'}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def info(self) -> dict[str, dict]:
        """``{program: supervisord's process info}`` (``statename``, ``pid``, ``start``, ...)."""
        return {item["name"]: item for item in self.rpc().supervisor.getAllProcessInfo()}

    def pids(self) -> dict[str, int]:
        """``{program: pid}`` of the programs running now (0 when not running)."""
        return {name: item["pid"] for name, item in self.info().items()}

    def ready(self, program: Program) -> bool:
        """Whether ``program`` is ready (see :meth:`start`); False when it is not RUNNING."""
        try:
            state = self.info()[program.name]["statename"]
        except (OSError, xmlrpc.client.Error, KeyError):
            return False
        if state not in ("RUNNING", "STARTING"):
            return False
        if program.kind == "web":
            return self._http_ok("/healthz")
        if program.kind == "worker":
            return self._worker_answers(program)
        if program.kind == "forwarder":
            return (self.config.run_dir / "forwarder.alive").exists()
        return state == "RUNNING"

    def wait_ready(self, *, timeout: float = 90.0, names: list[str] | None = None) -> None:
        """Wait until the programs (``names``, default all) are ready.

        Raises:
            StackError: supervisord exited, a program went FATAL, or ``timeout`` passed.
        """
        deadline = time.monotonic() + timeout
        pending = [p for p in self.programs if names is None or p.name in names]
        while pending:
            if self.supervisord is not None and self.supervisord.poll() is not None:
                raise StackError(f"supervisord exited with {self.supervisord.returncode}:\n"
                                 + self.tail("supervisord"))
            pending = [p for p in pending if not self.ready(p)]
            if not pending:
                return
            try:
                fatal = [n for n, item in self.info().items() if item["statename"] == "FATAL"]
            except (OSError, xmlrpc.client.Error):
                fatal = []
            if fatal:
                raise StackError(f"{fatal[0]} gave up starting:\n{self.tail(fatal[0])}")
            if time.monotonic() > deadline:
                raise StackError(f"{pending[0].name} not ready in {timeout:.0f} s:\n{self.tail(pending[0].name)}")
            time.sleep(0.2)

    def node_name(self, program: Program) -> str:
        """The Celery node name of a worker program (``-n <name>.<namespace>@%h`` expanded)."""
        import socket

        return program.command[program.command.index("-n") + 1].replace("%h", socket.gethostname())

    def _worker_answers(self, program: Program) -> bool:
        """Whether the worker answers a Celery ping through the stack's broker (its log's
        "ready." line would also be there from before a restart)."""
        if self._celery is None:
            from celery import Celery

            from bellamy.config import namespace_settings

            prefix = namespace_settings(self.env.get("BELLAMY_NAMESPACE"),
                                        key_prefix=self.env.get("BELLAMY_KEY_PREFIX"))["BELLAMY_KEY_PREFIX"]
            self._celery = Celery("stack-probe", broker=self.env["CELERY_BROKER_URL"], set_as_current=False)
            self._celery.conf.broker_transport_options = {"global_keyprefix": f"{prefix}:celery:"}
        node = self.node_name(program)
        try:
            replies = self._celery.control.ping(destination=[node], timeout=1.0, limit=1)
        except Exception:  # noqa: BLE001 — broker not answering yet: not ready
            return False
        return any(node in reply for reply in replies)

    def _http_ok(self, path: str) -> bool:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.base_url + path, timeout=1) as response:  # noqa: S310 (our URL)
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _log_bytes(self, name: str) -> bytes:
        path = self.config.log_dir / f"{name}.log"
        return path.read_bytes() if path.exists() else b""

    def tail(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of a program's log (``supervisord`` for the manager's)."""
        path = self.config.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, timeout: float = SHUTDOWN_SECONDS + 5) -> float:
        """SIGTERM supervisord and wait until it exited (it stops every program first).

        Returns:
            Seconds from the signal until supervisord exited (0 when it was not running).
            After ``timeout`` seconds its whole session is SIGKILLed.
        """
        proc = self.supervisord
        if proc is None or proc.poll() is not None:
            return 0.0
        try:
            pids = [pid for pid in self.pids().values() if pid]
        except (OSError, xmlrpc.client.Error):
            pids = []
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # supervisord itself is stuck: kill it and each program's process group (every
            # program runs in a group of its own).
            for pgid in (proc.pid, *pids):
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(timeout=5)
        return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    """``python -m deploy.stack up|env|config|budget|ctl`` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m deploy.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "env", "config", "budget", "ctl", "run"), nargs="?", default="up")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    env = default_env(os.environ)
    run_dir = Path(os.environ.get("BELLAMY_RUN_DIR") or ROOT / ".data" / "stack")
    config = StackConfig.from_env(env, run_dir=run_dir, log_dir=ROOT / ".data" / "logs")
    stack = Stack(config, env)
    if options.command == "env":
        for key in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL",
                    "BELLAMY_EVENTS_URL", "BELLAMY_NOTIFICATIONS_URL", "BELLAMY_GRAPH_URL", "BELLAMY_NAMESPACE"):
            if key in env:
                print(f"export {key}={shlex.quote(env[key])}")
        return 0
    if options.command == "config":
        print(render_config(config), end="")
        return 0
    if options.command == "run":
        # One program in the foreground under another manager (systemd, a container runtime):
        # the same command, stop signal and pool size as under supervisord.
        if not options.args:
            parser.error(f"run needs a program name: {', '.join(p.name for p in stack.programs)}")
        by_name = {p.name: p for p in stack.programs}
        program = by_name.get(options.args[0])
        if program is None:
            parser.error(f"unknown program {options.args[0]!r}; expected one of {', '.join(by_name)}")
        os.chdir(ROOT)
        os.execve(program.command[0], list(program.command),
                  {**os.environ, "BELLAMY_DB_POOL_MAX": str(program.db_pool_max), "PYTHONUNBUFFERED": "1",
                   **dict(program.env)})
    if options.command == "ctl":
        return subprocess.call([str(BIN / "supervisorctl"), "-c", str(stack.conf_path), *options.args])
    print(budget_table(stack.programs))
    try:
        limit, reserved = server_connection_limit(env["DATABASE_URL"])
    except Exception as exc:  # noqa: BLE001 — reported, the stack cannot start without it anyway
        print(f"stack: PostgreSQL at {env['DATABASE_URL'].rsplit('@', 1)[-1]} does not answer: {exc}", file=sys.stderr)
        return 1
    problem = check_budget(stack.programs, limit, reserved)
    print(f"server: max_connections {limit}, {reserved} superuser-reserved, {ADMIN_CONNECTIONS} kept for admin"
          f" -> {'OK' if problem is None else 'TOO MANY'}")
    if problem is not None:
        print(f"stack: {problem}", file=sys.stderr)
        return 1
    if options.command == "budget":
        return 0
    print(f"==> migrating {env['DATABASE_URL'].rsplit('@', 1)[-1]}", flush=True)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput"], env=env, cwd=ROOT, check=True)
    path = stack.write_config()
    print(f"==> supervisord ({path.relative_to(ROOT)}): {', '.join(p.name for p in stack.programs)}; "
          f"logs in {config.log_dir.relative_to(ROOT)}/; Bellamy Book at {stack.base_url}/ — Ctrl-C or SIGTERM stops",
          flush=True)
    os.execve(str(BIN / "supervisord"), [str(BIN / "supervisord"), "-n", "-c", str(path)],
              {**env, "PYTHONUNBUFFERED": "1"})
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
