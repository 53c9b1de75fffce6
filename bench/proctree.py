"""Memory of a process tree, read with psutil: RSS, USS and PSS per process and summed.

An RSS sum counts a page shared by several processes once per process (after a fork, a
child shares most of its parent's pages); PSS divides each shared page among the processes
mapping it, so the PSS sum is what the tree costs the machine; USS is each process's own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psutil

MB = 1e6


@dataclass(frozen=True)
class ProcMemory:
    """One process: its pid, its role in the tree, and its memory in MB (10^6 bytes)."""

    pid: int
    role: str
    rss_mb: float
    uss_mb: float
    pss_mb: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {k: round(v, 1) for k, v in asdict(self).items() if k[-3:] == "_mb"}


@dataclass(frozen=True)
class TreeMemory:
    """Every process of a tree (the root first) and the sums."""

    procs: tuple[ProcMemory, ...]

    @property
    def rss_mb(self) -> float:
        return sum(p.rss_mb for p in self.procs)

    @property
    def uss_mb(self) -> float:
        return sum(p.uss_mb for p in self.procs)

    @property
    def pss_mb(self) -> float:
        return sum(p.pss_mb for p in self.procs)


def tree_pids(root_pid: int) -> list[int]:
    """``root_pid`` and its descendants."""
    root = psutil.Process(root_pid)
    return [root_pid, *(child.pid for child in root.children(recursive=True))]


def tree_rss_mb(root_pid: int) -> float:
    """The RSS summed over the tree (cheap: no page-map walk)."""
    total = 0
    for pid in tree_pids(root_pid):
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / MB


def tree_memory(root_pid: int) -> TreeMemory:
    """RSS, USS and PSS of each process of the tree (``memory_full_info``: Linux, the
    caller's own processes or root)."""
    procs = []
    roles: dict[int, str] = {}
    for pid in tree_pids(root_pid):
        try:
            proc = psutil.Process(pid)
            info = proc.memory_full_info()
            role = _role(proc, roles)
        except psutil.NoSuchProcess:
            continue
        roles[pid] = role
        procs.append(ProcMemory(pid, role, info.rss / MB, info.uss / MB, info.pss / MB))
    return TreeMemory(tuple(procs))


def _role(proc: psutil.Process, roles: dict[int, str]) -> str:
    """The command a process runs (``filerelay run``: ``run``), or, for a fork that runs its
    parent's command line (a prefork pool process), ``fork of <parent's role>``."""
    cmdline = proc.cmdline()
    parent = proc.parent()
    if parent is not None and parent.pid in roles and parent.cmdline() == cmdline:
        return f"fork of {roles[parent.pid]}"
    words = [w for w in cmdline if not w.startswith("-")]
    for i, word in enumerate(words):
        if word == "filerelay" or word.endswith("/filerelay"):
            return " ".join(words[i : i + 2])
    return proc.name()
