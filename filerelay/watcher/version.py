"""A file version as one int: the ``(size, mtime_ns, inode, ctime_ns)`` the watcher compares.

The ctime is in the version because it is what a user cannot set: ``cp -p`` of a file of the
same size and mtime over a delivered one, or a rename over it of a file whose inode number
was reused, changes nothing else (the dedup key, :func:`~filerelay.model.path_dedup_key`,
holds the same four). It also changes on chmod, chown and a new hard link: those count as a
new version too (``dedup: content`` tells them apart).

One exact (injective) int instead of a tuple of four ints: the detector and the seen index
keep one per file, so at 100,000 files this is several MB less, and a comparison is one int
equality. Times may be negative (before 1970); sizes and inodes are below 2**64.
"""

from __future__ import annotations

import os

_TIME_OFFSET = 1 << 63


def file_version(size: int, mtime_ns: int, inode: int, ctime_ns: int) -> int:
    """``(size, mtime_ns, inode, ctime_ns)`` packed into one int (equal ints: equal tuples)."""
    head = (((size << 64) | (mtime_ns + _TIME_OFFSET)) << 64) | inode
    return (head << 64) | (ctime_ns + _TIME_OFFSET)


def stat_version(st: os.stat_result) -> int:
    """The :func:`file_version` of a stat result."""
    return file_version(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
