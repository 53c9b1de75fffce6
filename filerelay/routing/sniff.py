"""MIME type from a file's first bytes (magic numbers), falling back to its extension.

The only I/O routing may do; it reads at most :data:`SNIFF_BYTES` bytes, once per event.
"""

from __future__ import annotations

import mimetypes
import os
import stat

SNIFF_BYTES = 512

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"BM", "image/bmp"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"\x28\xb5\x2f\xfd", "application/zstd"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"PAR1", "application/vnd.apache.parquet"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (0, b"\x7fELF", "application/x-executable"),
)


def sniff_bytes(head: bytes, name: str = "") -> str:
    """The MIME type of content starting with ``head`` (file ``name`` for the fallback)."""
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}[head[8:12]]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    guessed = mimetypes.guess_type(name)[0] if name else None
    if _is_text(head):
        return (
            guessed
            if guessed and guessed.startswith(("text/", "application/json"))
            else ("text/plain")
        )
    return guessed or "application/octet-stream"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut at the end
    return True


def sniff_file(path: str) -> str:
    """Sniff a file; an unreadable file is ``application/octet-stream``, and so is a link or
    anything but a regular file: a FIFO swapped in must not block the ingest in ``open``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return "application/octet-stream"
    with os.fdopen(fd, "rb") as fh:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return "application/octet-stream"
            head = fh.read(SNIFF_BYTES)
        except OSError:
            return "application/octet-stream"
    return sniff_bytes(head, path)


def mime_matches(mime: str, pattern: str) -> bool:
    """``image/*`` matches ``image/png``; otherwise exact (case-insensitive)."""
    mime, pattern = mime.lower(), pattern.lower()
    if pattern.endswith("/*"):
        return mime.startswith(pattern[:-1])
    return mime == pattern
