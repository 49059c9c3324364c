"""Several processes counting into one ``PROMETHEUS_MULTIPROC_DIR``: their figures add up, a dead
process's counts stay while its open sockets go, its files are folded into the archive, and a
new process that inherits a dead one's pid does not inherit its sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bellamy import metrics
from bellamy.metrics import exposition, multiprocess
from tests.metrics.helpers import parse

ROOT = Path(__file__).resolve().parents[2]

# A process that counts, opens sockets, then waits for a line on stdin before it exits.
WORKER = textwrap.dedent("""
    import os, sys
    from bellamy import metrics
    published, consumed, sockets = map(int, sys.argv[1:4])
    metrics.event_published("post.created", published)
    metrics.events_consumed(["post.created"] * consumed + ["post.liked"])
    for _ in range(sockets):
        metrics.socket_opened()
    metrics.request_finished(method="GET", route="api/feed/", status=200, seconds=0.02)
    print(os.getpid(), flush=True)
    sys.stdin.readline()
""")


class Worker:
    def __init__(self, directory: Path, *counts: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, *map(str, counts)], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(ROOT)},
        )
        self.pid = int(self.proc.stdout.readline())

    def exit(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.wait(timeout=30) == 0


@pytest.fixture
def directory(tmp_path, monkeypatch):
    path = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    return path


def figures() -> dict:
    return parse("".join(
        f"{line}\n" for line in exposition.render().decode().splitlines()
        if not line.startswith(("bellamy_metrics_collector", "bellamy_outbox", "bellamy_presence"))
    ))


def label(**pairs) -> frozenset:
    return frozenset(pairs.items())


@pytest.mark.django_db
def test_two_processes_figures_add_up_and_survive_their_exit(directory):
    # given: two processes counting at once
    first, second = Worker(directory, 3, 2, 2), Worker(directory, 4, 5, 1)

    # then: the scrape sums them
    seen = figures()
    assert seen["bellamy_events_published_total"] == {label(type="post.created"): 7.0}
    assert seen["bellamy_events_consumed_total"] == {label(type="post.created"): 7.0, label(type="post.liked"): 2.0}
    assert seen["bellamy_websocket_connections"] == {frozenset(): 3.0}
    assert seen["bellamy_http_request_duration_seconds_count"] == {label(method="GET", route="api/feed/"): 2.0}
    assert seen["bellamy_http_request_duration_seconds_bucket"][label(method="GET", route="api/feed/", le="0.025")] == 2

    # when: the first exits (a restart, a crash)
    first.exit()
    seen = figures()

    # then: its counts stay, its sockets are gone, and its files were folded into the archive
    assert seen["bellamy_events_published_total"] == {label(type="post.created"): 7.0}
    assert seen["bellamy_events_consumed_total"] == {label(type="post.created"): 7.0, label(type="post.liked"): 2.0}
    assert seen["bellamy_websocket_connections"] == {frozenset(): 1.0}
    assert seen["bellamy_http_request_duration_seconds_count"] == {label(method="GET", route="api/feed/"): 2.0}
    names = sorted(p.name for p in directory.glob("*.db"))
    assert names == sorted([f"counter_{second.pid}.db", f"histogram_{second.pid}.db",
                            f"gauge_livesum_{second.pid}.db"])
    archive = (directory / multiprocess.ARCHIVE_LINK).resolve()
    assert sorted(p.name for p in archive.glob("*.db")) == ["counter_archive.db", "histogram_archive.db"]
    assert json.loads((archive / multiprocess.MERGED_FILE).read_text()) == []

    # when: the second exits too, and a third process counts after them
    second.exit()
    third = Worker(directory, 1, 0, 0)
    third.exit()
    seen = figures()

    # then: nothing was lost or counted twice over three processes and two archive generations
    assert seen["bellamy_events_published_total"] == {label(type="post.created"): 8.0}
    assert seen["bellamy_events_consumed_total"] == {label(type="post.created"): 7.0, label(type="post.liked"): 3.0}
    assert seen["bellamy_http_request_duration_seconds_count"] == {label(method="GET", route="api/feed/"): 3.0}
    assert seen["bellamy_websocket_connections"] == {}  # announced, no live process holds a socket
    assert list(directory.glob("*.db")) == []
    assert len(list(directory.glob("archive-*"))) == 1


@pytest.mark.django_db
def test_an_interrupted_compaction_is_finished_without_double_counting(directory):
    # given: a dead process's counter file, folded into the archive by a compaction that stopped
    # right after switching the archive (its merged.json still names the file)
    Worker(directory, 5, 0, 0).exit()
    dead_counter = next(directory.glob("counter_*.db"))
    saved = dead_counter.read_bytes()
    multiprocess.sweep(directory)
    assert not dead_counter.exists()
    dead_counter.write_bytes(saved)
    archive = (directory / multiprocess.ARCHIVE_LINK).resolve()
    (archive / multiprocess.MERGED_FILE).write_text(json.dumps([dead_counter.name]))

    # then: a scrape reads the archive and ignores the leftover; the next sweep deletes it
    seen = {s.name: s.value for f in multiprocess.ArchiveAwareCollector(directory).collect() for s in f.samples
            if s.name == "bellamy_events_published_total"}
    assert seen == {"bellamy_events_published_total": 5.0}
    multiprocess.sweep(directory)
    assert not dead_counter.exists()
    assert json.loads((archive / multiprocess.MERGED_FILE).read_text()) == []
    assert figures()["bellamy_events_published_total"] == {label(type="post.created"): 5.0}


def test_a_new_process_does_not_inherit_the_sockets_of_a_dead_one_with_its_pid(tmp_path):
    # given: a live-gauge file left under the pid the new process will have (pid reuse)
    directory = tmp_path / "metrics"
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from prometheus_client.mmap_dict import MmapedDict, mmap_key
        Path({str(directory)!r}).mkdir(parents=True, exist_ok=True)
        stale = MmapedDict(os.path.join({str(directory)!r}, f"gauge_livesum_{{os.getpid()}}.db"))
        stale.write_value(mmap_key("bellamy_websocket_connections", "bellamy_websocket_connections", [], [],
                                   "doc"), 5.0, 0.0)
        stale.close()
        from bellamy import metrics
        metrics.socket_opened()
        pid = os.fork()
        if pid == 0:  # a forked child (Celery prefork, Granian) starts from no sockets either
            metrics.socket_opened()
            os._exit(0 if metrics.SOCKETS._value.get() == 1.0 else 1)
        _, status = os.waitpid(pid, 0)
        print(metrics.SOCKETS._value.get(), os.waitstatus_to_exitcode(status))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(ROOT)})
    # then: 1 socket (not 6), and the child counted its own 1
    assert result.stdout.split() == ["1.0", "0"], result.stderr


def test_single_process_mode_keeps_values_in_this_process(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert multiprocess.directory() is None
    assert multiprocess.sweep() == {"dead": 0, "folded": 0}
    before = metrics.REGISTRY.get_sample_value("bellamy_dead_letters_total", {"source": "forwarder"}) or 0
    metrics.dead_lettered("forwarder", 2)
    text = exposition.render().decode()
    assert f'bellamy_dead_letters_total{{source="forwarder"}} {before + 2}' in text
    assert "process_cpu_seconds_total" in text  # the library's process collector, this process only


def test_an_empty_directory_variable_means_single_process_mode(tmp_path):
    # e.g. "PROMETHEUS_MULTIPROC_DIR=" copied from .env.example: no files in the working directory
    script = ("from bellamy import metrics; from bellamy.metrics import multiprocess; "
              "metrics.event_published('post.created'); print(multiprocess.directory(), "
              "metrics.EVENTS_PUBLISHED.labels('post.created')._value.get())")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": "", "PYTHONPATH": str(ROOT)})
    assert result.stdout.split() == ["None", "1.0"], result.stderr
    assert list(tmp_path.iterdir()) == []
