"""Workloads on disk: bursts of small files spread over directories, big files, wide trees."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024


@dataclass(frozen=True)
class Burst:
    """``files`` files of ``size`` bytes spread round-robin over ``dirs`` directories."""

    files: int
    dirs: int = 20
    size: int = 4096

    def relpaths(self) -> list[str]:
        return [f"d{i % self.dirs:03d}/f{i:06d}.bin" for i in range(self.files)]

    def payloads(self, seed: int = 0) -> list[bytes]:
        """Distinct contents (so no two files share a checksum), made before timing starts."""
        block = os.urandom(self.size)
        return [i.to_bytes(8, "little") + block[8:] for i in range(seed, seed + self.files)]

    def write(self, root: Path, payloads: list[bytes]) -> float:
        """Write every file under ``root`` as fast as possible; the wall time it started."""
        started = time.time()
        made: set[str] = set()
        for rel, data in zip(self.relpaths(), payloads, strict=True):
            directory = rel.split("/", 1)[0]
            if directory not in made:
                (root / directory).mkdir(parents=True, exist_ok=True)
                made.add(directory)
            with open(root / rel, "wb") as fh:
                fh.write(data)
        return started


def write_big_file(path: Path, size: int) -> None:
    """A file of ``size`` random-looking bytes (one random MiB repeated with a counter)."""
    block = bytearray(os.urandom(MiB))
    with open(path, "wb") as fh:
        for i in range(-(-size // MiB)):
            block[:8] = i.to_bytes(8, "little")
            fh.write(block[: min(MiB, size - i * MiB)])


def make_tree(root: Path, files: int, dirs: int, content: bytes = b"x" * 16) -> None:
    """``files`` files holding ``content`` evenly over ``dirs`` directories (for walking, not
    uploading), made with bare ``os.open``/``os.write``/``os.close`` calls: about a million
    files a minute."""
    per_dir = -(-files // dirs)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    made = 0
    for d in range(dirs):
        directory = root / f"dir{d:04d}"
        directory.mkdir(parents=True, exist_ok=True)
        for f in range(min(per_dir, files - made)):
            fd = os.open(f"{directory}/file{f:05d}.dat", flags, 0o644)
            if content:
                os.write(fd, content)
            os.close(fd)
        made += per_dir


def scandir_walk(root: str) -> int:
    """watch_scale's baseline: a bare walk of every file, with its stat; how many."""
    count = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    entry.stat(follow_symlinks=False)
                    count += 1
    return count
