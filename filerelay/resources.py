"""What a process reports of its machine in each heartbeat: CPU and memory (its own and the
host's), disk free on each watched filesystem, open files, and inotify watches used of the
limit — read with psutil and /proc, each figure left out when it cannot be read."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

import psutil

INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_watches")


def figures(paths: dict[str, str], config: Path | None = None) -> dict[str, Any]:
    """This process's figures; ``paths``: name → folder whose filesystem's free space to
    report; ``config``: the config file whose SHA-256 the process runs."""
    out: dict[str, Any] = {}
    try:
        proc = psutil.Process()
        with proc.oneshot():
            out["cpu_percent"] = proc.cpu_percent(interval=None)
            out["rss_bytes"] = proc.memory_info().rss
            out["open_files"] = proc.num_fds()
        mem = psutil.virtual_memory()
        out["host_cpu_percent"] = psutil.cpu_percent(interval=None)
        out["host_memory_percent"] = mem.percent
    except (psutil.Error, OSError):
        pass
    out["disk_free_bytes"] = _disk_free(paths)
    used = inotify_watches()
    if used is not None:
        out["inotify_watches"] = used
        out["inotify_limit"] = _read_int(INOTIFY_LIMIT)
    if config is not None:
        with contextlib.suppress(OSError):
            out["config_sha256"] = hashlib.sha256(config.read_bytes()).hexdigest()
    return out


def _disk_free(paths: dict[str, str]) -> dict[str, int]:
    free: dict[str, int] = {}
    for name, folder in paths.items():
        try:
            free[name] = psutil.disk_usage(folder).free
        except OSError:
            continue
    return free


def inotify_watches() -> int | None:
    """Inotify watches this process holds (the ``inotify wd:`` lines of its fdinfo), or None
    where /proc does not tell."""
    base = Path(f"/proc/{os.getpid()}/fdinfo")
    try:
        entries = list(base.iterdir())
    except OSError:
        return None
    count = 0
    for entry in entries:
        try:
            text = entry.read_text()
        except OSError:
            continue
        count += text.count("inotify wd:")
    return count


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
