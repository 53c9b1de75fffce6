"""Mount table lookups: which filesystem holds a path, and can inotify be trusted on it.

inotify only reports changes made through the local kernel: on NFS, SMB, FUSE, 9p and other
network or user-space filesystems, writes by other machines (or by the FUSE daemon) produce
no events. ``observer: auto`` therefore picks the polling observer for those.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal

import structlog

NETWORK_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "fuse",
        "9p",
        "sshfs",
        "ceph",
        "glusterfs",
        "davfs",
        "afs",
        "ncpfs",
        "lustre",
        "gpfs",
        "beegfs",
        "virtiofs",
        "vboxsf",
        "vmhgfs",
        "ocfs2",
        "gfs2",
    }
)
"""Filesystem types on which inotify misses changes (exact names; ``fuse.*`` is added)."""

_ESCAPE = re.compile(r"\\([0-7]{3})")

log = structlog.get_logger()

ObserverKind = Literal["native", "polling"]


@dataclass(frozen=True)
class Mount:
    """One line of the mount table."""

    device: str
    mount_point: str
    fs_type: str
    options: str

    @property
    def is_network(self) -> bool:
        """Whether inotify cannot see every change on this filesystem."""
        return is_network_fs(self.fs_type)


def _unescape(field: str) -> str:
    """Decode the kernel's octal escapes (``\\040`` space, ``\\011`` tab, ``\\012``, ``\\134``)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def is_network_fs(fs_type: str) -> bool:
    """Whether ``fs_type`` is a network or FUSE filesystem."""
    return fs_type in NETWORK_FS_TYPES or fs_type.startswith("fuse.")


def parse_mounts(text: str) -> list[Mount]:
    """Parse ``/proc/self/mounts`` (fstab format); malformed lines are skipped."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        device, mount_point, fs_type, options = (_unescape(f) for f in fields[:4])
        mounts.append(Mount(device, mount_point, fs_type, options))
    return mounts


def read_mounts(path: str = "/proc/self/mounts") -> list[Mount]:
    """The current mount table; empty if it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return parse_mounts(fh.read())
    except OSError as exc:
        log.warning("mounts.unreadable", path=path, error=str(exc))
        return []


def _contains(mount_point: str, path: str) -> bool:
    if mount_point == "/":
        return path.startswith("/")
    return path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def find_mount(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount holding ``path`` (absolute, resolved): the longest mount point prefix.

    When several mounts share that mount point (mounted over each other), the last one in
    the table is the visible one.
    """
    best: Mount | None = None
    for mount in mounts:
        if _contains(mount.mount_point, path) and (
            best is None or len(mount.mount_point) >= len(best.mount_point)
        ):
            best = mount
    return best


def choose_observer(
    path: str | os.PathLike[str], setting: str, mounts: list[Mount] | None = None
) -> ObserverKind:
    """The observer kind for a source: ``native``/``polling`` as set, or by mount for ``auto``."""
    if setting in ("native", "polling"):
        return setting  # type: ignore[return-value]
    real = os.path.realpath(os.fspath(path))
    mount = find_mount(real, read_mounts() if mounts is None else mounts)
    if mount is not None and mount.is_network:
        log.info(
            "mounts.polling_chosen",
            path=real,
            mount_point=mount.mount_point,
            fs_type=mount.fs_type,
            reason="inotify misses changes on network and FUSE filesystems",
        )
        return "polling"
    return "native"
