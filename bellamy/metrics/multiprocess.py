"""Metrics of many processes in one directory (``PROMETHEUS_MULTIPROC_DIR``), over restarts.

``prometheus_client``'s multi-process mode gives every process its own memory-mapped files in
the directory (``counter_<pid>.db``, ``histogram_<pid>.db``, ``gauge_livesum_<pid>.db``) and sums
them at scrape time. What it leaves to the application, done here:

- **A process that died** (the process manager restarts a crashed worker; Celery and Granian
  replace their children) keeps its counter and histogram files — its counts must stay in the
  totals, or every restart would look like a counter reset — but its *live* gauges (open
  sockets) must go. :func:`sweep` (run before each scrape) calls the library's
  ``mark_process_dead`` for every pid in the directory that is no longer alive.
- **The directory would grow** by one set of files per process ever started. :func:`sweep`
  also folds the counter/histogram/summary files of dead processes into one archive and deletes
  them (:func:`compact`), so a scrape reads (live processes + 1) files however many restarts
  there were. The archive lives in a generation directory that a symlink ``archive`` points
  to; the switch is one atomic ``rename``. Readers hold a shared ``flock`` and the compaction an
  exclusive one taken without waiting (a scrape never waits for it, and it never sees half a
  compaction); ``merged.json`` in the archive names the files folded into it, so a compaction
  interrupted between the switch and the deletes is finished by the next one instead of
  counting those files twice.
- **A reused pid**: a new process whose pid belonged to a dead one would start its live gauges
  from the dead one's values. :func:`prepare_process` deletes this pid's live-gauge files when
  a process starts and after every ``fork``, before any value exists. (Counters of a reused pid
  simply continue from the dead process's values, which keeps the sum right.)

The directory must be private to one host and one pid namespace (one container), since pids
are checked with ``kill(pid, 0)``. It needs no cleaning at start: a directory kept across
deployments just keeps counting.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
# An empty value counts as unset: the library enters multi-process mode as soon as the variable
# exists and would then write its files into the working directory. Before the library's import.
if os.environ.get(ENV, None) == "":
    del os.environ[ENV]

from prometheus_client.mmap_dict import MmapedDict, mmap_key  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead  # noqa: E402

logger = logging.getLogger(__name__)
#: The symlink to the current archive generation, and the lock file, inside the directory.
ARCHIVE_LINK = "archive"
LOCK_FILE = ".lock"
MERGED_FILE = "merged.json"
#: File types folded into the archive (live gauges are deleted instead, other gauges kept).
ARCHIVED_TYPES = ("counter", "histogram", "summary")


def directory() -> Path | None:
    """The shared directory (``PROMETHEUS_MULTIPROC_DIR``), or ``None`` in single-process mode."""
    value = os.environ.get(ENV, "")
    return Path(value) if value else None


def forget_live_gauges(pid: int) -> None:
    """Delete the live-gauge files of ``pid`` (no-op in single-process mode)."""
    path = directory()
    if path is not None:
        mark_process_dead(pid, str(path))


def prepare_process() -> None:
    """Create the directory if missing and drop live-gauge files left under this pid by a dead
    process, now and in every child this process forks (called once, at import, before any
    metric is defined)."""
    path = directory()
    if path is None:
        return
    path.mkdir(parents=True, exist_ok=True)
    forget_live_gauges(os.getpid())
    os.register_at_fork(after_in_child=lambda: forget_live_gauges(os.getpid()))


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists (zombies included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _pid_of(path: str) -> int | None:
    stem = os.path.basename(path)[:-3]  # "<type>[_<mode>]_<pid>"
    tail = stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


@contextlib.contextmanager
def _locked(path: Path, mode: int) -> Iterator[bool]:
    """Hold ``flock(mode)`` on the directory's lock file; yields False when ``LOCK_NB`` was asked
    and the lock is taken."""
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _archive_dir(path: Path) -> Path | None:
    link = path / ARCHIVE_LINK
    return link.resolve() if link.is_symlink() else None


def _merged_names(archive: Path | None) -> set[str]:
    if archive is None:
        return set()
    try:
        return set(json.loads((archive / MERGED_FILE).read_text()))
    except FileNotFoundError:
        return set()


def process_files(path: Path) -> list[str]:
    """The per-process ``*.db`` files of the directory (not the archive)."""
    return glob.glob(os.path.join(path, "*.db"))


def sweep(path: Path | None = None) -> dict[str, int]:
    """Forget the live gauges of dead processes and fold their other files into the archive.

    Returns:
        ``{"dead": pids found dead, "folded": files folded into the archive}``; both 0 when
        another process holds the lock (it is doing the same) or in single-process mode.
    """
    path = path or directory()
    if path is None:
        return {"dead": 0, "folded": 0}
    dead = {pid for pid in map(_pid_of, process_files(path)) if pid is not None and not pid_alive(pid)}
    for pid in dead:
        mark_process_dead(pid, str(path))
    folded = compact(path, dead)
    return {"dead": len(dead), "folded": folded}


def compact(path: Path, dead_pids: set[int]) -> int:
    """Fold the counter/histogram/summary files of ``dead_pids`` into the archive, then delete
    them. Skipped (returns 0) when a scrape or another compaction holds the lock.

    Returns:
        The number of files folded.
    """
    with _locked(path, fcntl.LOCK_EX | fcntl.LOCK_NB) as acquired:
        if not acquired:
            return 0
        current = _archive_dir(path)
        # An earlier compaction switched the archive but stopped before deleting what it folded.
        for name in _merged_names(current):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path / name)
        dead_files = sorted(
            f for f in process_files(path)
            if os.path.basename(f).split("_", 1)[0] in ARCHIVED_TYPES and _pid_of(f) in dead_pids
        )
        if not dead_files:
            if current is not None and _merged_names(current):
                _write_json(current / MERGED_FILE, [])
            return 0
        sources = (sorted(glob.glob(str(current / "*.db"))) if current is not None else []) + dead_files
        generation = path / f"archive-{uuid.uuid4().hex[:12]}"
        generation.mkdir()
        files: dict[str, MmapedDict] = {}
        try:
            for metric in MultiProcessCollector.merge(sources, accumulate=False):
                target = files.get(metric.type)
                if target is None:
                    target = files[metric.type] = MmapedDict(str(generation / f"{metric.type}_archive.db"))
                for sample in metric.samples:
                    key = mmap_key(metric.name, sample.name, list(sample.labels), list(sample.labels.values()),
                                   metric.documentation)
                    target.write_value(key, sample.value, 0.0)
        finally:
            for target in files.values():
                target.close()
        _write_json(generation / MERGED_FILE, [os.path.basename(f) for f in dead_files])
        tmp_link = path / f".{ARCHIVE_LINK}-{generation.name}"
        os.symlink(generation.name, tmp_link)
        os.replace(tmp_link, path / ARCHIVE_LINK)  # the commit point
        for f in dead_files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(f)
        _write_json(generation / MERGED_FILE, [])
        if current is not None:
            shutil.rmtree(current, ignore_errors=True)
        return len(dead_files)


def _write_json(target: Path, value) -> None:
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, target)


class ArchiveAwareCollector(MultiProcessCollector):
    """The library's collector, reading the live processes' files plus the archive, under the
    shared lock (so never in the middle of a compaction), without the files the archive says it
    already holds."""

    def __init__(self, path: Path):
        super().__init__(registry=None, path=str(path))
        self.path = path

    def collect(self):
        with _locked(self.path, fcntl.LOCK_SH):
            archive = _archive_dir(self.path)
            merged = _merged_names(archive)
            files = [f for f in process_files(self.path) if os.path.basename(f) not in merged]
            if archive is not None:
                files += glob.glob(str(archive / "*.db"))
            return self.merge(files, accumulate=True)
