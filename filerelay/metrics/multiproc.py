"""prometheus_client's multiprocess mode, for a prefork worker.

Each pool child writes its metric values to files in ``PROMETHEUS_MULTIPROC_DIR``; the parent
serves a registry whose :class:`MultiProcessCollector` sums them at scrape time. The parent
creates a fresh private directory per worker start *before* the children fork, and removes
it when the worker stops; a child that exits hands back its live-gauge files
(``mark_process_dead``, on Celery's ``worker_process_shutdown``), and the files of a child that
was killed are reaped at the next scrape. The counter and histogram files of a child that is
gone are added into one file per kind at the next scrape, and deleted: a pool whose
processes exit when idle and are forked again (:mod:`filerelay.tasks.pool`) would otherwise
leave two files per process for every scrape to read, for as long as the worker runs.

Order matters: prometheus_client chooses its value class once, when
``prometheus_client.values`` is first imported (``ValueClass = get_value_class()`` reads the
environment variable then). A library imported earlier may already have imported it, so
:func:`enable` sets the variable and then chooses the class again; it must run before any
filerelay metric is built.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.registry import Collector

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db$")
#: The files of one process whose values add up across processes, by kind.
_SUMMED_FILE = re.compile(r"^(counter|histogram)_(\d+)\.db$")
#: The file each kind's values of the processes gone are added into (``counter_gone.db``).
GONE = "gone"


def fresh_dir() -> Path:
    """A new, empty, private (0700) directory for one worker's metric files."""
    return Path(tempfile.mkdtemp(prefix="filerelay-metrics-"))


def enable(path: Path) -> None:
    """Put this process (and the children it forks) in multiprocess mode, writing to ``path``."""
    from prometheus_client import values

    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()


def mark_dead(pid: int, path: Path) -> None:
    """A pool child exited: drop its live-gauge files (counters and histograms stay summed)."""
    multiprocess.mark_process_dead(pid, str(path))


def remove(path: Path) -> None:
    """Delete the directory (the worker stopped)."""
    shutil.rmtree(path, ignore_errors=True)


def fold_gone(path: Path) -> int:
    """Add the counter and histogram values of every process that is gone into the kind's
    ``*_gone.db`` file and delete its own; returns how many files were folded. The totals the
    collector sums stay the same (it must not read between the two writes: one caller at a
    time, and no scrape meanwhile)."""
    folded = 0
    for file in sorted(path.glob("*.db")):
        match = _SUMMED_FILE.match(file.name)
        if match is None or _alive(int(match.group(2))):
            continue
        into = MmapedDict(str(path / f"{match.group(1)}_{GONE}.db"))
        try:
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(str(file)):
                total, _ = into.read_value(key)
                into.write_value(key, total + value, timestamp)
        finally:
            into.close()
        file.unlink()
        folded += 1
    return folded


class ReapingCollector(Collector):
    """A :class:`MultiProcessCollector` that first drops the live-gauge files of processes
    that are gone without saying so (SIGKILL, OOM), so their gauges do not linger, and folds
    the other files of the processes gone (:func:`fold_gone`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inner = multiprocess.MultiProcessCollector(None, path=str(path))
        self._lock = threading.Lock()  # one scrape at a time reads and folds

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            for name in glob.glob(os.path.join(self.path, "gauge_live*.db")):
                match = _LIVE_FILE.search(name)
                if match and not _alive(int(match.group(1))):
                    mark_dead(int(match.group(1)), self.path)
            fold_gone(Path(self.path))
            return list(self._inner.collect())


def served_registry(path: Path) -> CollectorRegistry:
    """The registry the parent serves: every process's files in ``path``, summed."""
    registry = CollectorRegistry()
    registry.register(ReapingCollector(path))
    return registry


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
