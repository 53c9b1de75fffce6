"""Fixtures of the action tests: source and destination trees, a tiny full-able tmpfs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """The root of a watched source tree."""
    root = tmp_path / "src"
    root.mkdir()
    return root


@pytest.fixture
def dst(tmp_path: Path) -> Path:
    """A destination root (not created: actions create what they need)."""
    return tmp_path / "dst"


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards; skipped where mounting is not permitted."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


@pytest.fixture
def other_fs(tmp_path: Path) -> Iterator[Path]:
    """A directory on another filesystem than ``tmp_path`` (/dev/shm), removed afterwards."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("/dev/shm is not available")
    if os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the same filesystem as the test's temp dir")
    import shutil
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="filerelay-test-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
