"""Mount table parsing and the observer choice."""

from __future__ import annotations

import pytest

from filerelay.watcher.mounts import choose_observer, find_mount, is_network_fs, parse_mounts

SAMPLE = r"""/dev/vda1 / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /run tmpfs rw,nosuid,nodev 0 0
server:/export /mnt/nfs nfs4 rw,vers=4.2,addr=10.0.0.2 0 0
//nas/share /mnt/my\040share cifs rw,vers=3.0 0 0
sshfs#me@host: /home/me/remote fuse.sshfs rw,user_id=1000 0 0
/dev/vdb1 /mnt/nfs/local ext4 rw 0 0
/dev/vdc1 /mnt/tab\011and\012nl\134x xfs rw 0 0
host0 /mnt/9p 9p rw,trans=virtio 0 0
broken line
"""


def test_parse_decodes_octal_escapes() -> None:
    mounts = parse_mounts(SAMPLE)
    points = [m.mount_point for m in mounts]
    assert "/mnt/my share" in points
    assert "/mnt/tab\tand\nnl\\x" in points
    assert len(mounts) == 9  # the broken line is skipped


@pytest.mark.parametrize(
    ("path", "mount_point", "network"),
    [
        ("/data/in", "/", False),
        ("/", "/", False),
        ("/mnt/nfs", "/mnt/nfs", True),
        ("/mnt/nfs/a/b", "/mnt/nfs", True),
        ("/mnt/nfsother", "/", False),  # a prefix of the string is not a parent directory
        ("/mnt/nfs/local/x", "/mnt/nfs/local", False),  # longest prefix wins
        ("/mnt/my share/in", "/mnt/my share", True),
        ("/home/me/remote/x", "/home/me/remote", True),
        ("/mnt/9p/x", "/mnt/9p", True),
    ],
)
def test_find_mount(path: str, mount_point: str, network: bool) -> None:
    mount = find_mount(path, parse_mounts(SAMPLE))
    assert mount is not None
    assert mount.mount_point == mount_point
    assert mount.is_network is network


def test_last_of_stacked_mounts_wins() -> None:
    mounts = parse_mounts("a /x ext4 rw 0 0\nb /x nfs rw 0 0\n")
    found = find_mount("/x/y", mounts)
    assert found is not None and found.device == "b"


@pytest.mark.parametrize(
    ("fs_type", "network"),
    [
        ("nfs", True),
        ("nfs4", True),
        ("cifs", True),
        ("smb3", True),
        ("fuse.rclone", True),
        ("fuse", True),
        ("ceph", True),
        ("glusterfs", True),
        ("ext4", False),
        ("xfs", False),
        ("tmpfs", False),
        ("overlay", False),
        ("btrfs", False),
    ],
)
def test_is_network_fs(fs_type: str, network: bool) -> None:
    assert is_network_fs(fs_type) is network


def test_choose_observer() -> None:
    mounts = parse_mounts(SAMPLE)
    assert choose_observer("/mnt/nfs/in", "auto", mounts) == "polling"
    assert choose_observer("/srv/in", "auto", mounts) == "native"
    assert choose_observer("/mnt/nfs/in", "native", mounts) == "native"
    assert choose_observer("/srv/in", "polling", mounts) == "polling"


def test_choose_observer_reads_this_machines_mounts(tmp_path: object) -> None:
    assert choose_observer(str(tmp_path), "auto") in ("native", "polling")
