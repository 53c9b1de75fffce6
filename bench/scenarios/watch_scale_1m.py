"""watch_scale_1m: watch_scale's measure at 1,000,000 empty files in 10,000 directories, one
round (full run only: ``--quick`` leaves it out unless it is named with ``--only``). Peak RSS
target 600 MB. The tree is made with bare ``os.open``/``os.close`` calls (about a minute)
and removed afterwards; the point is skipped, and the line says so, when the temp dir's file
system has too few free inodes or too little space.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench.context import Context
from bench.files import make_tree
from bench.report import Result
from bench.scenarios import watch_scale

NAME = "watch_scale_1m"
FULL_ONLY = True
FILES = 1_000_000
RSS_TARGET_MB = 600
#: Free inodes and bytes needed: the files, their directories, the watcher's outbox database
#: (its seen index, about 100 bytes a file) and a margin.
INODES_NEEDED = FILES + FILES // watch_scale.FILES_PER_DIR + 100_000
BYTES_NEEDED = 2 * 10**9


def run(ctx: Context) -> Result:
    scale = ctx.tempdir("scale-1m")
    short = _room(scale)
    if short:
        return Result(
            NAME, "s reconcile walk", None, None, "os.scandir walk", 2.0, better="lower",
            notes=f"skipped: {short}",
        )  # fmt: skip
    tree = scale / "tree"
    try:
        make_tree(tree, FILES, FILES // watch_scale.FILES_PER_DIR, content=b"")
        return watch_scale.measure(ctx, NAME, tree, FILES, rounds=1, rss_target_mb=RSS_TARGET_MB)
    finally:
        shutil.rmtree(scale, ignore_errors=True)


def _room(path: Path) -> str:
    """Why ``path``'s file system cannot hold the tree, or "" when it can."""
    fs = os.statvfs(path)
    free_inodes, free_bytes = fs.f_favail, fs.f_bavail * fs.f_frsize
    if fs.f_files and free_inodes < INODES_NEEDED:
        return f"{free_inodes:,} free inodes in {path.parent}, {INODES_NEEDED:,} needed"
    if free_bytes < BYTES_NEEDED:
        return f"{free_bytes / 1e9:.1f} GB free in {path.parent}, {BYTES_NEEDED / 1e9:g} needed"
    return ""
