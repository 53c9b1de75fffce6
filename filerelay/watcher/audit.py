"""The disk audit: stable files on disk that the store never recorded.

A watcher marks a file as seen once its event is in its outbox, and the outbox row is deleted
once the broker accepted the message. A broker that then loses the message (Redis restarted
without persistence) leaves a file nobody will ever process: the store has no row for it. The
reconciler walks the sources now and then and sends an ingest for each such file.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

import structlog

from filerelay.model import FileEvent, StableSignal, legacy_path_dedup_key, stat_event
from filerelay.watcher.filters import PathFilter
from filerelay.watcher.scan import TreeWalk

log = structlog.get_logger("filerelay.audit")

BATCH = 500


def unrecorded_files(
    sources: Sequence[Any], store: Any, min_age_s: float, now: float | None = None
) -> Iterator[FileEvent]:
    """Events for files of path-dedup sources, quiet for ``min_age_s`` (ctime), whose dedup
    key has no row in the store. ``dedup: content`` sources are skipped (hashing every file
    of a tree on each audit would cost too much)."""
    now = time.time() if now is None else now
    host = socket.gethostname()
    for source in sources:
        if source.dedup != "path":
            continue
        root = os.fsdecode(source.path.expanduser().resolve())
        batch: list[FileEvent] = []
        for relpath, st in TreeWalk(root, PathFilter(source), source=source.name):
            if now - st.st_ctime < min_age_s:
                continue
            path = f"{root}/{relpath}"
            batch.append(
                stat_event(
                    source.name,
                    path,
                    relpath,
                    st,
                    signal=StableSignal.SCAN,
                    tags=source.tags,
                    host=host,
                )
            )
            if len(batch) >= BATCH:
                yield from _missing(store, batch)
                batch = []
        yield from _missing(store, batch)


def _missing(store: Any, batch: list[FileEvent]) -> Iterator[FileEvent]:
    if not batch:
        return
    known = store.known_dedup_keys([e.dedup_key for e in batch])
    unknown = [e for e in batch if e.dedup_key not in known]
    # a file delivered before the ctime was part of the key has its old key in the store
    legacy = {e.event_id: _legacy_key(e) for e in unknown}
    known_before = store.known_dedup_keys(list(legacy.values())) if unknown else set()
    for event in unknown:
        if legacy[event.event_id] not in known_before:
            log.warning("audit_unrecorded_file", source=event.source, relpath=event.relpath)
            yield event


def _legacy_key(event: FileEvent) -> str:
    """The key the file had before the ctime was part of the default key."""
    return legacy_path_dedup_key(
        event.source, event.relpath, event.size, event.mtime_ns, event.inode
    )
