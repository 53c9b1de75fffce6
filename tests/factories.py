"""The one way the tests build a :class:`FileEvent`: for a file that need not exist
(:func:`file_event`), or for a real file as a watcher would see it now (:func:`event_of_file`).

The dedup key is always the default one (:func:`path_dedup_key`), so two events of the same
path, size, mtime and inode are the same file version, as in production.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from filerelay.model import FileEvent, path_dedup_key

MTIME_NS = 1_700_000_000_000_000_000


def file_event(
    relpath: str = "a.bin",
    *,
    source: str = "src",
    root: str | os.PathLike[str] = "/data",
    size: int = 10,
    mtime_ns: int = MTIME_NS,
    inode: int = 1,
    **fields: Any,
) -> FileEvent:
    """An event for ``root/relpath`` in ``source``; ``fields`` set or override any other field
    (``path``, ``dedup_key``, ``tags``, ``host``, ``detected_at``, ...)."""
    values: dict[str, Any] = {
        "source": source,
        "path": f"{os.fspath(root).rstrip('/')}/{relpath}",
        "relpath": relpath,
        "size": size,
        "mtime_ns": mtime_ns,
        "inode": inode,
        "dedup_key": path_dedup_key(source, relpath, size, mtime_ns, inode),
    }
    values.update(fields)
    return FileEvent(**values)


def event_of_file(path: Path, root: Path, *, source: str = "src", **fields: Any) -> FileEvent:
    """The event a watcher would emit now for the existing file ``path`` under ``root``."""
    st = path.stat()
    values: dict[str, Any] = {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "inode": st.st_ino,
        "device": st.st_dev,
        "path": str(path),
    }
    values.update(fields)
    relpath = values.pop("relpath", path.relative_to(root).as_posix())  # a test may forge one
    return file_event(relpath, source=source, root=root, **values)
