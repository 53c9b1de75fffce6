"""Fakes for the pure watcher parts: a clock, an in-memory filesystem's stat, a writer check."""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from dataclasses import dataclass, field

from filerelay.watcher.writers import WriterScan


class FakeClock:
    """Wall-clock seconds that only move when told to."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeFile:
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int = 1
    mode: int = stat.S_IFREG | 0o644


@dataclass
class FakeFS:
    """``stat`` over a dict of paths; ``write`` bumps size, mtime and ctime to the clock."""

    clock: FakeClock
    files: dict[str, FakeFile] = field(default_factory=dict)
    next_ino: int = 100

    def write(self, path: str, size: int | None = None, *, age_s: float = 0.0) -> FakeFile:
        ns = int((self.clock() - age_s) * 1e9)
        old = self.files.get(path)
        if old is None:
            self.next_ino += 1
            old = FakeFile(0, ns, ns, self.next_ino)
            self.files[path] = old
        old.size = old.size + 1 if size is None else size
        old.mtime_ns = old.ctime_ns = ns
        return old

    def remove(self, path: str) -> None:
        del self.files[path]

    def stat(self, path: str) -> os.stat_result:
        f = self.files.get(path)
        if f is None:
            raise FileNotFoundError(2, "No such file", path)
        return os.stat_result(
            (f.mode, f.ino, f.dev, 1, 0, 0, f.size, 0, f.mtime_ns // 10**9, f.ctime_ns // 10**9),
            {"st_mtime_ns": f.mtime_ns, "st_ctime_ns": f.ctime_ns, "st_ctime": f.ctime_ns / 1e9},
        )


class FakeWriters:
    """A writer check answering from a set of open (dev, ino) keys; counts its calls.

    ``complete=False`` plays a check that cannot see every process (a watcher not root)."""

    def __init__(self, complete: bool = True) -> None:
        self.open: set[tuple[int, int]] = set()
        self.complete = complete
        self.calls = 0

    def __call__(self, keys: Collection[tuple[int, int]]) -> WriterScan:
        self.calls += 1
        return WriterScan(set(keys) & self.open, self.complete)

    def blind_spot(self) -> str | None:
        return None if self.complete else "processes of other users"
