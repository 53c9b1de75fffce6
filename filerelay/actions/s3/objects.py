"""What an S3 answer (head_object, put_object, complete_multipart_upload) tells the ``s3``
action: ETag, version id, part count, and how an object already in place may be compared
with the local file.

An object this action uploaded carries user metadata ``sha256`` when the file's digest was
known before the upload began (a single PUT; or a ``{sha256}`` template, or an event from a
``dedup: content`` source). A multipart upload streamed without knowing it carries
``part-size`` instead: with it, the object's multipart ETag can be recomputed from the local
file (:meth:`ObjectCheck.from_head`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from filerelay.model import JSONDict

_MD5_ETAG = re.compile(r"^[0-9a-f]{32}(-\d+)?$")
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


@dataclass(frozen=True)
class ObjectCheck:
    """How to tell whether an existing object holds the local file's bytes: compare the
    file's SHA-256 with ``sha256``, or its multipart ETag at ``part_size`` with ``etag``."""

    sha256: str | None = None
    etag: str | None = None
    part_size: int | None = None

    @classmethod
    def from_head(cls, head: JSONDict, size: int) -> ObjectCheck | None:
        """The check for ``head`` against a file of ``size`` bytes; None when it cannot be
        the same (another size) or nothing in it can be compared."""
        if head.get("ContentLength") != size:
            return None
        meta = head.get("Metadata", {})
        if meta.get("sha256"):
            return cls(sha256=str(meta["sha256"]))
        etag, part_size = etag_of(head), _positive_int(meta.get("part-size"))
        if part_size and md5_style(head, etag) and "-" in etag:
            return cls(etag=etag, part_size=part_size)
        return None


def put_for_event(head: JSONDict, event_id: str, result: JSONDict) -> bool:
    """Whether the object ``head`` is the one the ``s3`` step ``result`` describes, uploaded
    for the event ``event_id`` (by an attempt that died before recording its result)."""
    meta = head.get("Metadata", {})
    if meta.get("event-id") != event_id:
        return False
    if meta.get("sha256"):
        return bool(meta["sha256"] == result["sha256"])
    return bool(etag_of(head) == result["etag"])


def version_id(answer: JSONDict) -> str | None:
    """The object's version id; None when the bucket is not versioned (some servers say
    'null' there, and refuse it back as a version id)."""
    version = answer.get("VersionId")
    return None if version in (None, "", "null") else str(version)


def etag_of(answer: JSONDict) -> str:
    return str(answer.get("ETag", "")).strip('"')


def md5_style(head: JSONDict, etag: str) -> bool:
    """ETags are MD5s unless the object is KMS- or customer-key-encrypted."""
    encrypted = head.get("ServerSideEncryption") == "aws:kms" or head.get("SSECustomerAlgorithm")
    return bool(_MD5_ETAG.match(etag)) and not encrypted


def part_count(etag: str) -> int:
    _, dash, count = etag.rpartition("-")
    return int(count) if dash and count.isdigit() else 1


def header_value(value: str) -> str:
    """Metadata travels in HTTP headers: percent-encode anything outside printable ASCII."""
    from urllib.parse import quote

    if all(ch in _HEADER_SAFE for ch in value):
        return value
    # a name's non-UTF-8 bytes (surrogate-escaped in memory) are percent-encoded as bytes
    return quote(value, safe=_HEADER_SAFE, errors="surrogateescape")


def _positive_int(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() and int(text) > 0 else None
