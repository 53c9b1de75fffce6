"""Plain data shared by every layer: the file event, states and results. No I/O here."""

from __future__ import annotations

import hashlib
import os
import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

JSONDict = dict[str, Any]


class StableSignal(StrEnum):
    """What declared a file completely written."""

    SILENCE = "silence"  # (size, mtime_ns) unchanged for the silence window
    CLOSE_WRITE = "close_write+silence"  # the writer closed it and it stayed unchanged
    READY_MARKER = "ready_marker"  # its marker file appeared
    SCAN = "scan"  # found by a walk, unchanged for longer than the silence window
    MANUAL = "manual"  # submitted by an operator


class EventState(StrEnum):
    """State of one file version in the store (see ``filerelay.store.states``)."""

    DETECTED = "detected"
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    VANISHED = "vanished"
    SKIPPED = "skipped"


class PipelineStatus(StrEnum):
    """State of one route's run over one event."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    COMPENSATING = "compensating"  # a step failed for good; undo and on_failure steps run
    COMPENSATION_FAILED = "compensation_failed"  # failed, and an undo or on_failure failed too


class StepPhase(StrEnum):
    """Why a step row exists."""

    MAIN = "main"  # a step of the route
    UNDO = "undo"  # compensates a completed main step (``undoes``)
    ON_FAILURE = "on_failure"  # one of the route's on_failure steps


class StepStatus(StrEnum):
    """State of one step of a pipeline."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


def new_event_id(now_s: float | None = None) -> str:
    """A 32-hex-digit id that sorts by creation time (48-bit ms timestamp + 80 random bits)."""
    ms = int((time.time() if now_s is None else now_s) * 1000)
    return f"{ms:012x}{os.urandom(10).hex()}"


class FileEvent(BaseModel):
    """A file declared stable by a watcher: the whole message of an ``ingest`` task.

    Frozen and versioned; it carries metadata only, never file bytes or secrets.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    event_id: str = Field(default_factory=new_event_id)
    source: str
    path: str = Field(description="Absolute path of the file when it was declared stable.")
    relpath: str = Field(description="Path relative to the source root, '/'-separated.")
    size: int
    mtime_ns: int
    ctime_ns: int = 0
    inode: int
    device: int = 0
    dedup_key: str
    sha256: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    host: str = ""
    agent: str = Field(
        default="",
        description="Agent id of the watcher's host ('' before the fleet): the host whose "
        "queue runs the steps that read the file.",
    )
    stable_signal: StableSignal = StableSignal.SILENCE
    detected_at: float = Field(default_factory=time.time, description="Unix time, seconds.")

    def to_message(self) -> JSONDict:
        """The JSON-ready dict sent through the broker."""
        return self.model_dump(mode="json")

    @classmethod
    def from_message(cls, data: JSONDict) -> FileEvent:
        """Decode a broker message; rejects unknown fields and versions."""
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(f"unsupported event schema_version {version}")
        return cls.model_validate(data)


MAX_READABLE_KEY_PATH = 400


def path_dedup_key(
    source: str, relpath: str, size: int, mtime_ns: int, inode: int, ctime_ns: int
) -> str:
    """The default dedup key: one file version = path + size + mtime_ns + inode + ctime_ns.

    The ctime is what a user cannot set: ``cp -p`` over a file of the same size and mtime,
    or a rename over it of a file that got a reused inode, keeps size, mtime and inode but
    not the ctime. Readable for ordinary paths; a very long relpath is replaced by its
    SHA-256 so the key stays within the store's column (paths may be 4,096 bytes long).
    """
    return f"{legacy_path_dedup_key(source, relpath, size, mtime_ns, inode)}:{ctime_ns}"


def legacy_path_dedup_key(source: str, relpath: str, size: int, mtime_ns: int, inode: int) -> str:
    """The default key of filerelay before the ctime was part of it (path+size+mtime+inode).

    Only to recognise file versions delivered under it (the disk audit after an upgrade).
    """
    if len(relpath) > MAX_READABLE_KEY_PATH:
        digest = hashlib.sha256(relpath.encode("utf-8", "surrogateescape")).hexdigest()
        relpath = f"sha256={digest}"
    return f"path:{source}:{relpath}:{size}:{mtime_ns}:{inode}"


def stat_dedup_key(source: str, relpath: str, st: os.stat_result) -> str:
    """The default dedup key of a file from its stat result."""
    return path_dedup_key(source, relpath, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def stat_event(
    source: str,
    path: str,
    relpath: str,
    st: os.stat_result,
    *,
    signal: StableSignal,
    tags: dict[str, str],
    host: str,
    dedup_key: str | None = None,
    sha256: str | None = None,
    **fields: Any,
) -> FileEvent:
    """The event of a file from its stat result: the one place a stat becomes a file version.

    ``dedup_key`` defaults to the path key (:func:`stat_dedup_key`); ``fields`` sets the
    others (``event_id``, ``detected_at``).
    """
    return FileEvent(
        source=source,
        path=path,
        relpath=relpath,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        inode=st.st_ino,
        device=st.st_dev,
        dedup_key=stat_dedup_key(source, relpath, st) if dedup_key is None else dedup_key,
        sha256=sha256,
        tags=dict(tags),
        host=host,
        stable_signal=signal,
        **fields,
    )


def content_dedup_key(source: str, sha256: str) -> str:
    """The ``dedup: content`` key: same bytes in the same source = same file."""
    return f"sha256:{source}:{sha256}"
