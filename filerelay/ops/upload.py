"""Manual upload into a source (``POST sources/{name}/files``) and submit of a file already
there (``POST submit``, ``filerelay submit``).

An upload is streamed to a temporary ``*.part`` file in the target folder (the watcher
ignores temp names), size-limited, fsynced, then linked into place under its sanitised name
— never over an existing file — and the temporary name removed. The watcher then sees a new
file and it goes through the routes like any other.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from filerelay.errors import ConflictError, NotFoundError, TooLargeError, UsageError
from filerelay.ops.audit import Actor, audited
from filerelay.ops.deployment import Deployment
from filerelay.ops.requeue import submit, submitted_event
from filerelay.ops.sources import clean_relpath, source_root

CHUNK = 1024 * 1024
MAX_NAME_BYTES = 255
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


UploadTooLarge = TooLargeError


def sanitize_name(name: str) -> str:
    """A safe file name: its last path component, control characters and separators
    replaced, no leading dot, at most 255 bytes; :class:`UsageError` when nothing is left."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    clean = _UNSAFE.sub("_", base).strip().lstrip(".")
    while len(clean.encode()) > MAX_NAME_BYTES:
        clean = clean[:-1]
    if not clean:
        raise UsageError(f"file name {name!r}: nothing usable left after sanitising")
    return clean


@dataclass(frozen=True)
class Uploaded:
    """A file written into a source."""

    source: str
    relpath: str
    size: int


def upload(
    dep: Deployment, actor: Actor, source: str, name: str, data: BinaryIO, folder: str = ""
) -> Uploaded:
    """Stream ``data`` into ``folder`` of ``source`` as ``name`` (sanitised)."""
    root = source_root(dep, source)
    parts = clean_relpath(folder)
    target_dir = root.joinpath(*parts)
    if target_dir.is_symlink() or not target_dir.is_dir():
        raise NotFoundError(f"no folder {folder!r} in source {source!r}")
    clean = sanitize_name(name)
    relpath = "/".join([*parts, clean])
    params = {"name": name, "folder": folder}
    with audited(dep.control, actor, "upload", f"{source}:{relpath}", params):
        size = _write(target_dir, clean, data, dep.settings.api_max_upload_bytes)
    return Uploaded(source, relpath, size)


def _write(folder: Path, name: str, data: BinaryIO, limit: int) -> int:
    tmp = folder / f".{name[:200]}.{secrets.token_hex(4)}.part"
    size = 0
    try:
        with open(tmp, "xb") as out:
            while chunk := data.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"file: over the upload limit of {limit} bytes")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, folder / name)  # never replaces a file already there
        except FileExistsError:
            raise ConflictError(f"file: {name!r} exists in that folder") from None
    finally:
        tmp.unlink(missing_ok=True)
    return size


@dataclass(frozen=True)
class Submitted:
    """The event created for a submitted file."""

    event_id: str
    source: str
    relpath: str
    size: int


def submit_path(dep: Deployment, actor: Actor, path: str) -> Submitted:
    """Send a file in a configured source through the routes now, even if unchanged."""
    sources = dep.sources()
    if not sources:
        raise UsageError("this deployment runs no config with sources (FILERELAY_CONFIG)")
    with audited(dep.control, actor, "submit", path):
        event = submitted_event(sources, path)
        submit(dep.celery(), dep.settings.queue, [event])
    return Submitted(event.event_id, event.source, event.relpath, event.size)
