"""One real web process (the ASGI server ``make run`` and ``make stack`` use) for tests that
need real concurrency or a real socket: :class:`WebServer`.

Unlike :class:`tests.live_stack.LiveStack` it starts no worker and no forwarder: Celery is
eager and events are dispatched in-process unless ``env`` says otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.live_stack import ROOT, free_port

#: Variables of the test run that must not leak into the server (it gets its own backends).
_OWN_PREFIXES = ("DJANGO_", "BELLAMY_", "CELERY_", "REDIS_", "DATABASE_")


def embedded_env(sqlite_path: Path) -> dict[str, str]:
    """The environment of ``make run`` (the embedded default) on the SQLite file ``sqlite_path``,
    with throttles opened so a test can register many users from one address."""
    return {
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{sqlite_path}",
        "BELLAMY_THROTTLE_REGISTER": "10000/min",
        "BELLAMY_THROTTLE_TOKEN": "10000/min",
        "BELLAMY_LOG_LEVEL": "WARNING",
    }


def production_env(database_url: str, *, key_prefix: str) -> dict[str, str]:
    """The production settings (DEBUG off, PostgreSQL ``database_url``, the test run's Redis for
    cache, channel layer and presence under ``key_prefix``); Celery stays eager and events
    in-process (no worker or forwarder runs), throttles opened."""
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "BELLAMY_KEY_PREFIX": key_prefix,
        "BELLAMY_THROTTLE_REGISTER": "10000/min",
        "BELLAMY_THROTTLE_TOKEN": "10000/min",
        "BELLAMY_LOG_LEVEL": "WARNING",
    }


def migrate(env: dict[str, str]) -> None:
    """Run ``manage.py migrate`` with ``env`` (raises CalledProcessError with its output)."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT,
                   env=_environment(env), check=True, capture_output=True, timeout=300)


def _environment(env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    return {**base, "DJANGO_SETTINGS_MODULE": "bellamy.settings", "PYTHONUNBUFFERED": "1", **env}


class WebServer:
    """``manage.py runserver --noreload`` (Daphne, as ``make run``) on a free port.

    Args:
        env: the server's settings variables (everything else of the test run's ``DJANGO_*``,
            ``BELLAMY_*``, ``REDIS_*``, ``CELERY_*`` and ``DATABASE_*`` is dropped).
        log_path: where its output goes.
    """

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = _environment(env)
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> WebServer:
        """Start the server and wait until ``/healthz`` answers 200.

        Raises:
            RuntimeError: it exited or did not answer within ``timeout`` seconds (with its log).
        """
        log = open(self.log_path, "wb")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"web server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"web server not ready in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM the server's process group; SIGKILL it after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
