"""The stack under supervisord (deploy/stack.py): a crashed program is restarted, with back-off
when it keeps dying, and nothing else stops; SIGTERM to the manager stops every program."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.stack import (
    QUEUES,
    ROOT,
    SHUTDOWN_SECONDS,
    START_SECONDS,
    Program,
    Stack,
    StackConfig,
)
from tests.conftest import service_unavailable
from tests.live_stack import LiveStack


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def group_members(pgid: int) -> list[int]:
    """Live pids whose process group is ``pgid`` (a program and its children)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


class TestConfiguration:
    def test_one_program_per_process_type_with_stop_timeouts_below_the_shutdown_budget(self, tmp_path, settings):
        config = StackConfig.from_env({}, run_dir=tmp_path, log_dir=tmp_path)
        programs = config.programs()
        assert [p.name for p in programs] == [
            "web", "worker-scoring", "worker-graph", "worker-notifications", "worker-trends", "worker-default",
            "beat", "forwarder",
        ]
        assert QUEUES == settings.BELLAMY_QUEUES
        assert [p.command[p.command.index("-Q") + 1] for p in programs if p.kind == "worker"] == list(QUEUES)
        # Stopped at the same time (one group), each SIGKILLed at its stop_wait: with a second
        # for supervisord to reap, the whole stack is down within SHUTDOWN_SECONDS.
        assert max(p.stop_wait for p in programs) + 1 < SHUTDOWN_SECONDS
        assert {p.stop_signal for p in programs} == {"TERM"}

    def test_rendered_config_restarts_with_back_off_and_stops_as_a_group(self, tmp_path):
        from deploy.stack import render_config

        text = render_config(StackConfig.from_env({"PORT": "8123", "BELLAMY_WEB_PROCESSES": "1"}, run_dir=tmp_path, log_dir=tmp_path / "logs"))
        assert "[group:bellamy]\nprograms = web,worker-scoring,worker-graph,worker-notifications,worker-trends," \
               "worker-default,beat,forwarder\n" in text
        web = text.split("[program:web]\n", 1)[1].split("\n\n", 1)[0]
        assert web.splitlines()[0] == f"command = {ROOT / 'bin' / 'web'}"
        for line in ("autorestart = true", f"startsecs = {START_SECONDS}", "startretries = 1000",
                     "stopsignal = TERM", "stopwaitsecs = 6", "stopasgroup = true", "killasgroup = true",
                     'environment = BELLAMY_DB_POOL_MAX="8",PYTHONUNBUFFERED="1",HOST="127.0.0.1",PORT="8123",'
                     'BELLAMY_WEB_PROCESSES="1"'):
            assert line in web.splitlines()
        # Celery's %h (host name) survives supervisord's %-interpolation.
        assert "-n scoring.bellamy@%%h " in text

    def test_bad_sizes_are_refused(self, tmp_path):
        with pytest.raises(ValueError, match="BELLAMY_WORKER_CONCURRENCY='four' is not an integer"):
            StackConfig.from_env({"BELLAMY_WORKER_CONCURRENCY": "four"}, run_dir=tmp_path, log_dir=tmp_path)
        with pytest.raises(ValueError, match="BELLAMY_WEB_DB_POOL_MAX=0 is below 1"):
            StackConfig.from_env({"BELLAMY_WEB_DB_POOL_MAX": "0"}, run_dir=tmp_path, log_dir=tmp_path)
        with pytest.raises(ValueError, match="BELLAMY_WORKER_POOL='gevent': expected threads or prefork"):
            StackConfig.from_env({"BELLAMY_WORKER_POOL": "gevent"}, run_dir=tmp_path, log_dir=tmp_path)


class _CrashingStack(Stack):
    """A stack of one program that exits 3 at once, to watch supervisord's back-off."""

    def __post_init__(self):
        super().__post_init__()
        self.programs = [Program("crasher", "beat", (sys.executable, "-c", "import sys; sys.exit(3)"), db_pool_max=1)]


@pytest.mark.slow
def test_a_program_that_keeps_dying_is_retried_with_growing_back_off(tmp_path):
    stack = _CrashingStack(StackConfig(run_dir=tmp_path, log_dir=tmp_path), dict(os.environ))
    stack.write_config()
    stack.supervisord = __import__("subprocess").Popen(
        [str(Path(sys.executable).parent / "supervisord"), "-n", "-c", str(stack.conf_path)],
        start_new_session=True,
    )
    try:
        log = tmp_path / "supervisord.log"
        spawns = wait_for(lambda: len(re.findall(r"spawned: 'crasher'", log.read_text() if log.exists() else "")) >= 5
                          and log.read_text(), timeout=30, what="five starts of the crashing program")
        def stamps(event):
            return [time.mktime(time.strptime(m[0], "%Y-%m-%d %H:%M:%S")) + int(m[1]) / 1000
                    for m in re.findall(rf"^(\S+ \S+),(\d+) \w+ {event}: '?crasher", spawns, re.M)]

        spawned, exited = stamps("spawned"), stamps("exited")
        waits = [start - end for end, start in zip(exited, spawned[1:], strict=False)][:4]
        # Linear back-off: started again 1 s, 2 s, 3 s, 4 s after each failed start (supervisord
        # checks its timers about once a second, so up to a second later).
        assert [int(w) for w in waits] == [1, 2, 3, 4], waits
        assert stack.info()["crasher"]["statename"] in ("BACKOFF", "STARTING")
        assert "exited: crasher (exit status 3; not expected)" in spawns
    finally:
        stack.stop()


@pytest.fixture
def live_stack(transactional_db):
    stack = LiveStack(workers=2)
    try:
        stack.start()
    except RuntimeError as exc:
        stack.stop()
        service_unavailable("the production stack", exc)
    yield stack
    stack.stop()


@pytest.mark.services
@pytest.mark.slow
def test_a_crashed_process_is_restarted_and_nothing_else_stops(live_stack):
    stack = live_stack.stack
    for victim in ("worker0", "forwarder", "web"):
        before = live_stack.pids()
        assert all(before.values()), before
        readiness_lines = stack.tail(victim, 10_000).count(" ready.")
        os.kill(before[victim], signal.SIGKILL)
        if victim != "web":
            # The web keeps answering while another program is down.
            assert httpx.get(live_stack.base_url + "/healthz", timeout=5).status_code == 200
        after = wait_for(lambda v=victim, b=before: (p := live_stack.pids())[v] not in (0, b[v]) and p,
                         timeout=30, what=f"{victim} restarted")
        program = next(p for p in stack.programs if p.name == victim)
        wait_for(lambda p=program: stack.ready(p), timeout=60, what=f"{victim} ready again")
        assert {n: pid for n, pid in after.items() if n != victim} == {n: pid for n, pid in before.items() if n != victim}
        assert all(alive(pid) for name, pid in after.items())
        states = {name: item["statename"] for name, item in stack.info().items()}
        assert set(states.values()) <= {"RUNNING", "STARTING"}, states
        assert f"exited: {victim} (terminated by SIGKILL; not expected)" in stack.tail("supervisord", 200)
        if victim == "worker0":
            assert stack.tail(victim, 10_000).count(" ready.") == readiness_lines + 1
    assert httpx.get(live_stack.base_url + "/healthz", timeout=5).status_code == 200


@pytest.mark.services
@pytest.mark.slow
def test_sigterm_to_the_manager_stops_every_process(transactional_db, record_property):
    """The whole `make stack` layout (web, a worker per queue, beat, forwarder) after real
    traffic: SIGTERM to supervisord, and every program's process group is gone."""
    stack = LiveStack(beat=True, per_queue_workers=True)
    try:
        stack.start()
    except RuntimeError as exc:
        stack.stop()
        service_unavailable("the production stack", exc)
    try:
        response = httpx.post(stack.base_url + "/api/auth/register", timeout=10, json={
            "username": "terminator", "email": "t@example.org", "password": "a long passphrase 42"})
        assert response.status_code == 201, response.text
        pids = stack.pids()
        assert sorted(pids) == sorted(["beat", "forwarder", "web", *(f"worker-{q}" for q in QUEUES)])
        members = {name: group_members(pid) for name, pid in pids.items()}
        supervisord = stack.stack.supervisord
    finally:
        stack.stop()
    record_property("sigterm_seconds", round(stack.stop_seconds, 2))
    print(f"SIGTERM → every program stopped in {stack.stop_seconds:.2f} s")
    # supervisord exited by itself (after stopping its programs), not by the fallback SIGKILL.
    assert supervisord.returncode == 0
    log = stack.tail("supervisord", 200)
    assert "received SIGTERM indicating exit request" in log
    for name, group in members.items():
        assert group, name
        assert not [pid for pid in group if alive(pid)], f"{name} left processes behind"
        assert re.search(rf"stopped: {re.escape(name)} \((exit status 0|terminated by SIGKILL)\)", log), name
