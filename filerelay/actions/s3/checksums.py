"""How the server checks the parts of a multipart upload: Content-MD5, or a CRC32 checksum.

- ``md5``: every part carries Content-MD5, and the server refuses a part whose bytes differ
  (BadDigest). Afterwards the object's ETag, the MD5 of the part MD5s, is checked.
- ``crc32``: the upload is created with ``ChecksumAlgorithm=CRC32`` and every part carries
  ``x-amz-checksum-crc32``, which the server checks (BadDigest) and echoes in its answer.
  The completed object's composite checksum, the CRC32 of the part CRC32s with ``-N``, is
  checked. A CRC32 costs a fifth of an MD5 (about 0.25 against 1.4 core-seconds per GiB
  on the benchmark machine), and the cores the hashing takes are the server's too when it
  runs on the same host.
- ``auto`` (the default): ``crc32`` on a server that has shown it checks them, else ``md5``.
  A worker process learns it per connection from its first multipart upload there: until
  the server's first answer, parts carry both. A server that echoes the CRC32 has checked
  it; one that does not (moto, older S3-compatible servers) has ignored it, and the
  upload's parts go on with Content-MD5 alone.

Single PUTs always carry Content-MD5: a small body's MD5 is cheap next to the request.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from typing import Literal

from filerelay.actions.base import ClientCache

ChecksumMode = Literal["auto", "md5", "crc32"]
ALGORITHM = "CRC32"  # the ChecksumAlgorithm an upload is created with


class ChecksumSupport:
    """Whether a connection's server checks CRC32 part checksums; ``None`` until learnt."""

    def __init__(self) -> None:
        self.crc32: bool | None = None


def support(clients: ClientCache, connection: str) -> ChecksumSupport:
    """The process-wide :class:`ChecksumSupport` of the named connection."""
    learnt: ChecksumSupport = clients.get(("s3-checksums", connection), ChecksumSupport)
    return learnt


def crc32_header(value: int) -> str:
    """A CRC32 as the ``x-amz-checksum-crc32`` header carries it: 4 bytes, base64."""
    return base64.b64encode(value.to_bytes(4, "big")).decode("ascii")


def composite_crc32(part_crc32s: Sequence[int]) -> str:
    """The checksum a server gives a multipart object whose parts have these CRC32s."""
    joined = b"".join(crc.to_bytes(4, "big") for crc in part_crc32s)
    return f"{crc32_header(zlib.crc32(joined))}-{len(part_crc32s)}"
