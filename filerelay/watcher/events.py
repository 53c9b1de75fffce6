"""Building the :class:`FileEvent` of a stable file: metadata, dedup key, optional SHA-256."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from filerelay.model import FileEvent, content_dedup_key, new_event_id, path_dedup_key
from filerelay.watcher.stability import StableFile

CHUNK_BYTES = 1 << 20


class FileChanged(Exception):
    """The file changed (or vanished) while it was being hashed: it is not stable after all."""


def sha256_of(path: str, expected: os.stat_result) -> str:
    """Stream the file's SHA-256; raises :class:`FileChanged` if it is not ``expected`` anymore.

    The file is opened without following symlinks and checked by fstat before and after
    reading, so the digest belongs to exactly the version the detector declared stable.
    """
    want = (expected.st_size, expected.st_mtime_ns, expected.st_ino)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise FileChanged(str(exc)) from exc
    with os.fdopen(fd, "rb") as fh:
        before = os.fstat(fd)
        if (before.st_size, before.st_mtime_ns, before.st_ino) != want:
            raise FileChanged("changed before hashing")
        digest = hashlib.sha256()
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
        after = os.fstat(fd)
    if (after.st_size, after.st_mtime_ns, after.st_ino) != want:
        raise FileChanged("changed while hashing")
    return digest.hexdigest()


def build_event(
    source: Any, stable: StableFile, relpath: str, *, host: str, now: float
) -> FileEvent:
    """The event of a stable file of ``source``; hashes it when ``dedup: content``.

    Raises :class:`FileChanged` when hashing finds the file changed.
    """
    st = stable.stat
    digest: str | None = None
    if source.dedup == "content":
        digest = sha256_of(stable.path, st)
        key = content_dedup_key(source.name, digest)
    else:
        key = path_dedup_key(source.name, relpath, st.st_size, st.st_mtime_ns, st.st_ino)
    return FileEvent(
        event_id=new_event_id(now),
        source=source.name,
        path=stable.path,
        relpath=relpath,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        inode=st.st_ino,
        device=st.st_dev,
        dedup_key=key,
        sha256=digest,
        tags=dict(source.tags),
        host=host,
        stable_signal=stable.signal,
        detected_at=now,
    )
