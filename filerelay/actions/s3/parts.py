"""Sending the parts of a multipart upload: each part is read once, hashed and sent.

``concurrency`` threads each own one reusable part buffer. A thread takes the next part
number, reads the part into its buffer with ``os.preadv``, takes its checksum (a CRC32 or
an MD5, so the server checks the bytes it got against the bytes we read: see
:mod:`filerelay.actions.s3.checksums`), feeds it to the file's running SHA-256 when every
earlier part has been fed (the digest needs file order), then sends it. ``preadv``, hashing
large buffers and socket writes all release the GIL, so the threads overlap reading, hashing
and sending.

Buffers are ``bytearray``: botocore accepts them as a body and, unlike ``bytes``, does not
concatenate them with the request headers into a fresh copy (``AWSConnection._send_output``).

A part the server already holds (a resumed upload, ``held``) is still read and hashed, and
is kept only when its ETag is the MD5 of this file's part; otherwise it is sent again.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from filerelay.actions.s3.checksums import crc32_header
from filerelay.actions.s3.client import translate_error
from filerelay.actions.s3.multipart import MultipartUpload
from filerelay.errors import PermanentError, RetryableError
from filerelay.safefs import source_error


@dataclass(frozen=True)
class Sent:
    """What sending the parts learned about the file."""

    sha256: str
    part_md5s: tuple[bytes, ...]  # every part's, or () when the server checked CRC32s instead
    part_crc32s: tuple[int, ...] | None  # every part's, when the server checks CRC32s
    reused: int  # parts the server already held with this file's bytes


class _Stopped(Exception):
    """Another thread failed: this one stops without an error of its own."""


class PartSender:
    """Reads, hashes and uploads the parts of ``upload`` from ``fd`` (see the module doc).

    ``on_part`` runs after each part is recorded (to checkpoint the upload); ``held`` maps
    part numbers to the ETags the server already holds for them. ``crc32`` says how the
    parts are checked: by CRC32 (True), by MD5 (False), or by both until the server's first
    answer shows whether it checks CRC32s (None; ``on_learn`` then hears the answer).
    """

    def __init__(
        self,
        client: Any,
        upload: MultipartUpload,
        fd: int,
        held: Mapping[int, str] | None = None,
        on_part: Callable[[], None] | None = None,
        crc32: bool | None = False,
        on_learn: Callable[[bool], None] | None = None,
    ) -> None:
        self.client, self.upload, self.fd = client, upload, fd
        self.held = dict(held or {})
        self.on_part, self.on_learn = on_part, on_learn
        self._crc32 = crc32
        self._md5s: list[bytes] = [b""] * upload.part_count
        self._crc32s: list[int | None] = [None] * upload.part_count
        self._sha = hashlib.sha256()
        self._turn = threading.Condition()  # guards everything below
        self._next_part = 1
        self._next_hashed = 1
        self._reused = 0
        self._error: BaseException | None = None

    def run(self, concurrency: int) -> Sent:
        """Send every part, ``concurrency`` at a time; the first error stops the rest."""
        threads = max(1, min(concurrency, self.upload.part_count))
        with ThreadPoolExecutor(threads, "s3-part") as pool:
            futures = [pool.submit(self._work) for _ in range(threads)]
            try:
                for future in futures:
                    future.exception()  # wait; the first error is kept in self._error
            except BaseException as exc:  # a time limit in this thread: stop after these parts
                self._fail(exc)
                raise
        if self._error is not None:
            raise self._error
        md5s = tuple(self._md5s) if all(self._md5s) else ()
        crcs = [c for c in self._crc32s if c is not None]
        checked = self._crc32 is not False and len(crcs) == len(self._crc32s)
        return Sent(self._sha.hexdigest(), md5s, tuple(crcs) if checked else None, self._reused)

    def _work(self) -> None:
        buffer = bytearray()
        try:
            while (number := self._take()) is not None:
                offset, length = self.upload.part_range(number)
                if len(buffer) != length:
                    buffer = bytearray(length)  # once per thread, and again for a short last part
                self._read(buffer, offset)
                crc32 = self._crc32  # None: both, until the server's first answer
                md5 = None
                if crc32 is not True or number in self.held:  # a held part is kept by its ETag
                    md5 = self._md5s[number - 1] = hashlib.md5(
                        buffer, usedforsecurity=False
                    ).digest()
                crc = None
                if crc32 is not False:
                    crc = self._crc32s[number - 1] = zlib.crc32(buffer)
                self._hash_in_order(number, buffer)
                self._send(number, buffer, md5, crc)
        except _Stopped:
            return
        except BaseException as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        with self._turn:
            self._error = self._error or exc
            self._turn.notify_all()

    def _take(self) -> int | None:
        with self._turn:
            if self._error is not None or self._next_part > self.upload.part_count:
                return None
            self._next_part += 1
            return self._next_part - 1

    def _read(self, buffer: bytearray, offset: int) -> None:
        view, got = memoryview(buffer), 0
        try:
            while got < len(buffer):
                n = os.preadv(self.fd, [view[got:]], offset + got)
                if n == 0:
                    raise PermanentError(f"file shrank while uploading it to {self.upload.where}")
                got += n
        except OSError as exc:
            raise source_error(exc, self.upload.where) from exc
        finally:
            view.release()

    def _hash_in_order(self, number: int, buffer: bytearray) -> None:
        with self._turn:
            self._turn.wait_for(lambda: self._next_hashed == number or self._error is not None)
            if self._error is not None:
                raise _Stopped
        self._sha.update(buffer)  # only the thread whose turn it is gets here
        with self._turn:
            self._next_hashed += 1
            self._turn.notify_all()

    def _send(self, number: int, buffer: bytearray, md5: bytes | None, crc: int | None) -> None:
        if md5 is not None and self.held.get(number, "").strip('"') == md5.hex():
            etag = self.held[number]
            with self._turn:
                self._reused += 1
        else:
            etag = self._upload_part(number, buffer, md5, crc)
        self.upload.record(number, etag)
        if self.on_part is not None:
            self.on_part()

    def _upload_part(
        self, number: int, buffer: bytearray, md5: bytes | None, crc: int | None
    ) -> str:
        up = self.upload
        checks: dict[str, str] = {}
        if md5 is not None:
            checks["ContentMD5"] = base64.b64encode(md5).decode("ascii")
        if crc is not None:
            checks["ChecksumCRC32"] = crc32_header(crc)
        try:
            answer = self.client.upload_part(
                Bucket=up.bucket,
                Key=up.key,
                UploadId=up.upload_id,
                PartNumber=number,
                Body=buffer,
                **checks,
            )
        except Exception as exc:
            raise translate_error(exc, f"upload part {number} of {up.where}") from exc
        if crc is not None:
            self._confirm(number, checks["ChecksumCRC32"], answer.get("ChecksumCRC32"))
        return str(answer["ETag"])

    def _confirm(self, number: int, sent: str, echoed: str | None) -> None:
        """A server that checked a part's CRC32 echoes it. The first answer decides whether
        the rest of the parts go by CRC32 or by MD5 (every part sent until then has both)."""
        with self._turn:
            learnt = self._crc32 is None
            if learnt:
                self._crc32 = echoed is not None
            crc32 = self._crc32 is True
        if learnt and self.on_learn is not None:
            self.on_learn(crc32)
        where = f"part {number} of {self.upload.where}"
        if echoed is None and crc32:
            raise PermanentError(
                f"upload {where}: the server did not confirm the part's CRC32 checksum "
                "(x-amz-checksum-crc32), so it may not have checked it; set checksum: md5 "
                "(or auto) on this s3 step"
            )
        if echoed is not None and echoed != sent:
            raise RetryableError(f"upload {where}: the server has CRC32 {echoed}, we sent {sent}")
