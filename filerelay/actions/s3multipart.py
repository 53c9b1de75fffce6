"""Digests and our own multipart upload for the ``s3`` action.

The file is streamed once to get its SHA-256 and the MD5 of every part; parts are then read
with ``os.pread`` from one shared descriptor by a thread pool and sent with ``Content-MD5``,
so the server checks each part against the bytes we hashed. The expected ETag follows from
the MD5s: ``md5(file)`` for a single PUT, ``md5(md5(part1) + ... + md5(partN)) + "-N"`` for a
multipart upload (the convention of AWS, MinIO, Ceph and moto; not with SSE-KMS/SSE-C).

:class:`MultipartUpload` holds exactly what is needed to resume an upload (id, part size,
parts done) and round-trips through JSON, so it can be persisted later.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from filerelay.actions.fsops import source_error
from filerelay.actions.s3client import translate_error
from filerelay.errors import PermanentError
from filerelay.model import JSONDict

MiB = 1024 * 1024
MIN_PART_BYTES = 5 * MiB
MAX_PART_BYTES = 5 * 1024**3
MAX_PARTS = 10_000
READ_BYTES = MiB


def choose_part_size(size: int, part_size: int) -> int:
    """``part_size``, raised (to whole MiB) when ``size`` would need more than 10,000 parts."""
    if -(-size // part_size) <= MAX_PARTS:
        return part_size
    needed = -(-size // MAX_PARTS)
    return -(-needed // MiB) * MiB


@dataclass(frozen=True)
class Digests:
    """SHA-256 of the file and the MD5 of each ``part_size`` slice of it."""

    sha256: str
    part_md5s: tuple[bytes, ...]
    part_size: int
    size: int

    def expected_etag(self, multipart: bool) -> str:
        """The ETag an MD5-ETag server gives the object (no quotes)."""
        if not multipart:
            return self.part_md5s[0].hex()
        joined = hashlib.md5(b"".join(self.part_md5s), usedforsecurity=False).hexdigest()
        return f"{joined}-{len(self.part_md5s)}"


def digest_bytes(data: bytes) -> Digests:
    """Digests of an in-memory body sent as one PUT."""
    md5 = hashlib.md5(data, usedforsecurity=False).digest()
    return Digests(hashlib.sha256(data).hexdigest(), (md5,), max(len(data), 1), len(data))


def digest_file(path: str, part_size: int, expected_size: int) -> Digests:
    """Stream ``path`` once: SHA-256 plus the MD5 of each part of ``part_size`` bytes."""
    sha = hashlib.sha256()
    md5s: list[bytes] = []
    total = 0
    try:
        with open(path, "rb") as fh:
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
        raise source_error(exc, path) from exc
    if total != expected_size:
        raise PermanentError(f"file changed while reading it: {path} ({expected_size} -> {total})")
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


@dataclass
class MultipartUpload:
    """One multipart upload in progress: enough to resume it. JSON-ready via ``to_json``."""

    bucket: str
    key: str
    upload_id: str
    size: int
    part_size: int
    parts: dict[int, str] = field(default_factory=dict)  # part number -> ETag
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def part_range(self, number: int) -> tuple[int, int]:
        """``(offset, length)`` of part ``number`` (1-based)."""
        offset = (number - 1) * self.part_size
        return offset, min(self.part_size, self.size - offset)

    def missing_parts(self) -> list[int]:
        return [n for n in range(1, self.part_count + 1) if n not in self.parts]

    def record(self, number: int, etag: str) -> None:
        with self._lock:
            self.parts[number] = etag

    def to_json(self) -> JSONDict:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "upload_id": self.upload_id,
            "size": self.size,
            "part_size": self.part_size,
            "parts": {str(n): etag for n, etag in sorted(self.parts.items())},
        }

    @classmethod
    def from_json(cls, data: JSONDict) -> MultipartUpload:
        parts = {int(n): str(etag) for n, etag in data.get("parts", {}).items()}
        return cls(
            str(data["bucket"]),
            str(data["key"]),
            str(data["upload_id"]),
            int(data["size"]),
            int(data["part_size"]),
            parts,
        )

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def start(client: Any, bucket: str, key: str, digests: Digests, args: JSONDict) -> MultipartUpload:
    """create_multipart_upload with ``args`` (ContentType, Metadata, StorageClass...)."""
    try:
        answer = client.create_multipart_upload(Bucket=bucket, Key=key, **args)
    except Exception as exc:
        raise translate_error(exc, f"start multipart upload of s3://{bucket}/{key}") from exc
    return MultipartUpload(bucket, key, answer["UploadId"], digests.size, digests.part_size)


def upload_parts(
    client: Any,
    upload: MultipartUpload,
    fd: int,
    digests: Digests,
    concurrency: int,
    on_part: Callable[[], None] | None = None,
) -> None:
    """Upload every missing part, ``concurrency`` at a time; the first error stops the rest.
    ``on_part`` runs after each part is recorded (to checkpoint the upload)."""
    missing = upload.missing_parts()
    if not missing:
        return

    def one(number: int) -> None:
        _upload_part(client, upload, fd, number, digests.part_md5s[number - 1])
        if on_part is not None:
            on_part()

    with ThreadPoolExecutor(min(concurrency, len(missing)), "s3-part") as pool:
        futures: list[Future[None]] = [pool.submit(one, n) for n in missing]
        _done, not_done = wait(futures, return_when=FIRST_EXCEPTION)
        for future in not_done:
            future.cancel()
    for future in futures:
        if not future.cancelled() and future.exception() is not None:
            future.result()  # raises the first error, already translated


def _upload_part(client: Any, upload: MultipartUpload, fd: int, number: int, md5: bytes) -> None:
    offset, length = upload.part_range(number)
    try:
        data = os.pread(fd, length, offset)
    except OSError as exc:
        raise source_error(exc, upload.where) from exc
    if len(data) != length:
        raise PermanentError(f"file shrank while uploading it to {upload.where}")
    try:
        answer = client.upload_part(
            Bucket=upload.bucket,
            Key=upload.key,
            UploadId=upload.upload_id,
            PartNumber=number,
            Body=data,
            ContentMD5=base64.b64encode(md5).decode("ascii"),
        )
    except Exception as exc:
        raise translate_error(exc, f"upload part {number} of {upload.where}") from exc
    upload.record(number, str(answer["ETag"]))


def complete(client: Any, upload: MultipartUpload) -> JSONDict:
    """complete_multipart_upload with the recorded parts; returns the answer."""
    parts = [{"PartNumber": n, "ETag": etag} for n, etag in sorted(upload.parts.items())]
    try:
        answer: JSONDict = client.complete_multipart_upload(
            Bucket=upload.bucket,
            Key=upload.key,
            UploadId=upload.upload_id,
            MultipartUpload={"Parts": parts},
        )
    except Exception as exc:
        raise translate_error(exc, f"complete multipart upload of {upload.where}") from exc
    return answer


def listed_parts(client: Any, upload: MultipartUpload) -> dict[int, str] | None:
    """The parts the server holds for the upload (number -> ETag); None if it is gone."""
    parts: dict[int, str] = {}
    marker = 0
    try:
        while True:
            answer = client.list_parts(
                Bucket=upload.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
                PartNumberMarker=marker,
            )
            for part in answer.get("Parts", []):
                parts[int(part["PartNumber"])] = str(part["ETag"])
            if not answer.get("IsTruncated"):
                return parts
            marker = int(answer["NextPartNumberMarker"])
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in {"NoSuchUpload", "404"}:
            return None
        raise translate_error(exc, f"list parts of {upload.where}") from exc


def abort(client: Any, upload: MultipartUpload, log: Any) -> None:
    """Best-effort abort_multipart_upload (its failure is logged, never raised)."""
    try:
        client.abort_multipart_upload(
            Bucket=upload.bucket, Key=upload.key, UploadId=upload.upload_id
        )
    except Exception as exc:
        log.warning("s3_abort_multipart_failed", object=upload.where, error=str(exc))
