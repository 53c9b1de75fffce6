"""Our own multipart upload for the ``s3`` action: the upload's state and its S3 calls.

:class:`MultipartUpload` holds exactly what is needed to resume an upload (id, part size,
parts done) and round-trips through JSON, so the step's checkpoint can carry it. Reading,
hashing and sending the parts is :mod:`filerelay.actions.s3.parts`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from filerelay.actions.s3.checksums import crc32_header
from filerelay.actions.s3.client import translate_error
from filerelay.model import JSONDict

MiB = 1024 * 1024
MIN_PART_BYTES = 5 * MiB
MAX_PART_BYTES = 5 * 1024**3
MAX_PARTS = 10_000


def choose_part_size(size: int, part_size: int) -> int:
    """``part_size``, raised (to whole MiB) when ``size`` would need more than 10,000 parts."""
    if -(-size // part_size) <= MAX_PARTS:
        return part_size
    needed = -(-size // MAX_PARTS)
    return -(-needed // MiB) * MiB


@dataclass
class MultipartUpload:
    """One multipart upload in progress: enough to resume it. JSON-ready via ``to_json``."""

    bucket: str
    key: str
    upload_id: str
    size: int
    part_size: int
    parts: dict[int, str] = field(default_factory=dict)  # part number -> ETag
    checksum: str | None = None  # the ChecksumAlgorithm it was created with (CRC32)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def part_range(self, number: int) -> tuple[int, int]:
        """``(offset, length)`` of part ``number`` (1-based)."""
        offset = (number - 1) * self.part_size
        return offset, min(self.part_size, self.size - offset)

    def record(self, number: int, etag: str) -> None:
        with self._lock:
            self.parts[number] = etag

    def to_json(self) -> JSONDict:
        with self._lock:  # parts are recorded by several threads
            parts = sorted(self.parts.items())
        return {
            "bucket": self.bucket,
            "key": self.key,
            "upload_id": self.upload_id,
            "size": self.size,
            "part_size": self.part_size,
            "parts": {str(n): etag for n, etag in parts},
            "checksum": self.checksum,
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
            str(data["checksum"]) if data.get("checksum") else None,
        )

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def start(
    client: Any,
    bucket: str,
    key: str,
    size: int,
    part_size: int,
    args: JSONDict,
    checksum: str | None = None,
) -> MultipartUpload:
    """create_multipart_upload with ``args`` (ContentType, Metadata, StorageClass...), and
    the ``checksum`` algorithm (``CRC32``) its parts will carry, if any."""
    algorithm = {"ChecksumAlgorithm": checksum} if checksum else {}
    try:
        answer = client.create_multipart_upload(Bucket=bucket, Key=key, **algorithm, **args)
    except Exception as exc:
        raise translate_error(exc, f"start multipart upload of s3://{bucket}/{key}") from exc
    return MultipartUpload(bucket, key, answer["UploadId"], size, part_size, checksum=checksum)


def complete(
    client: Any, upload: MultipartUpload, part_crc32s: tuple[int, ...] | None = None
) -> JSONDict:
    """complete_multipart_upload with the recorded parts (and each one's CRC32, when the
    server checked them); returns the answer."""
    parts: list[JSONDict] = [
        {"PartNumber": n, "ETag": etag} for n, etag in sorted(upload.parts.items())
    ]
    if part_crc32s is not None:
        for part in parts:
            part["ChecksumCRC32"] = crc32_header(part_crc32s[int(part["PartNumber"]) - 1])
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
