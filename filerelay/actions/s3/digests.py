"""Digests of a file for the ``s3`` action: its SHA-256 and the MD5 (or the CRC32, when the
server checks those: :mod:`filerelay.actions.s3.checksums`) of each part.

The ETag an MD5-ETag server (AWS, MinIO, Ceph, SeaweedFS, moto; not with SSE-KMS/SSE-C)
gives an object follows from the MD5s: ``md5(file)`` for a single PUT,
``md5(md5(part1) + ... + md5(partN)) + "-N"`` for a multipart upload. So an object can be
compared with a local file from its size, its ETag and the part size it was uploaded with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from filerelay.errors import PermanentError
from filerelay.safefs import SourceFile, source_error

READ_BYTES = 1024 * 1024


def multipart_etag(part_md5s: tuple[bytes, ...] | list[bytes]) -> str:
    """The ETag (no quotes) of a multipart object whose parts have these MD5s."""
    joined = hashlib.md5(b"".join(part_md5s), usedforsecurity=False).hexdigest()
    return f"{joined}-{len(part_md5s)}"


@dataclass(frozen=True)
class Digests:
    """SHA-256 of the file and the MD5 of each ``part_size`` slice of it; or, for a multipart
    upload whose parts the server checked by CRC32, each slice's CRC32 and no MD5s."""

    sha256: str
    part_md5s: tuple[bytes, ...]
    part_size: int
    size: int
    part_crc32s: tuple[int, ...] | None = None

    def expected_etag(self, multipart: bool) -> str:
        """The ETag an MD5-ETag server gives the object (no quotes); needs the part MD5s."""
        if not multipart:
            return self.part_md5s[0].hex()
        return multipart_etag(self.part_md5s)


def digest_bytes(data: bytes | bytearray) -> Digests:
    """Digests of an in-memory body sent as one PUT."""
    md5 = hashlib.md5(data, usedforsecurity=False).digest()
    return Digests(hashlib.sha256(data).hexdigest(), (md5,), max(len(data), 1), len(data))


def digest_file(source: SourceFile, part_size: int, expected_size: int) -> Digests:
    """Stream ``path`` once: SHA-256 plus the MD5 of each part of ``part_size`` bytes.

    Used where the digests are needed *before* an upload (a ``{sha256}`` template) or to
    compare with an object already there; an upload itself hashes the parts it sends."""
    sha = hashlib.sha256()
    md5s: list[bytes] = []
    total = 0
    try:
        with source.stream() as fh:
            while True:
                part = hashlib.md5(usedforsecurity=False)
                got = _hash_part(fh, part_size, sha, part)
                if got == 0 and md5s:
                    break
                md5s.append(part.digest())
                total += got
                if got < part_size:
                    break
    except OSError as exc:
        raise source_error(exc, source.path) from exc
    if total != expected_size:
        raise PermanentError(
            f"file changed while reading it: {source.path} ({expected_size} -> {total})"
        )
    return Digests(sha.hexdigest(), tuple(md5s), part_size, total)


def _hash_part(fh: Any, part_size: int, sha: Any, part: Any) -> int:
    got = 0
    while got < part_size:
        chunk = fh.read(min(READ_BYTES, part_size - got))
        if not chunk:
            break
        sha.update(chunk)
        part.update(chunk)
        got += len(chunk)
    return got
