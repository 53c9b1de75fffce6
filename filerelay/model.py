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


def path_dedup_key(source: str, relpath: str, size: int, mtime_ns: int, inode: int) -> str:
    """The default dedup key: one file version = path + size + mtime_ns + inode.

    Readable for ordinary paths; a very long relpath is replaced by its SHA-256 so the key
    stays within the store's column (paths may be 4,096 bytes long).
    """
    if len(relpath) > MAX_READABLE_KEY_PATH:
        digest = hashlib.sha256(relpath.encode("utf-8", "surrogateescape")).hexdigest()
        relpath = f"sha256={digest}"
    return f"path:{source}:{relpath}:{size}:{mtime_ns}:{inode}"


def content_dedup_key(source: str, sha256: str) -> str:
    """The ``dedup: content`` key: same bytes in the same source = same file."""
    return f"sha256:{source}:{sha256}"
