"""Building the :class:`FileEvent` of a stable file: metadata, dedup key, optional SHA-256."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from filerelay.model import FileEvent, content_dedup_key, new_event_id, stat_event
from filerelay.watcher.rules import StableFile
from filerelay.watcher.version import stat_version

CHUNK_BYTES = 1 << 20


class FileChanged(Exception):
    """The file changed (or vanished) while it was being hashed: it is not stable after all."""


def sha256_of(path: str, expected: os.stat_result) -> str:
    """Stream the file's SHA-256; raises :class:`FileChanged` if it is not ``expected`` anymore.

    The file is opened without following symlinks and checked by fstat before and after
    reading, so the digest belongs to exactly the version the detector declared stable.
    """
    want = stat_version(expected)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise FileChanged(str(exc)) from exc
    with os.fdopen(fd, "rb") as fh:
        before = os.fstat(fd)
        if stat_version(before) != want:
            raise FileChanged("changed before hashing")
        digest = hashlib.sha256()
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
        after = os.fstat(fd)
    if stat_version(after) != want:
        raise FileChanged("changed while hashing")
    return digest.hexdigest()


def build_event(
    source: Any, stable: StableFile, relpath: str, *, host: str, now: float
) -> FileEvent:
    """The event of a stable file of ``source``; hashes it when ``dedup: content``.

    Raises :class:`FileChanged` when hashing finds the file changed.
    """
    st = stable.stat
    digest = sha256_of(stable.path, st) if source.dedup == "content" else None
    return stat_event(
        source.name,
        stable.path,
        relpath,
        st,
        signal=stable.signal,
        tags=source.tags,
        host=host,
        dedup_key=content_dedup_key(source.name, digest) if digest is not None else None,
        sha256=digest,
        event_id=new_event_id(now),
        detected_at=now,
    )
