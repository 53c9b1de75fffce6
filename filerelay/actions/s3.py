"""The ``s3`` action: upload the file to an S3-compatible bucket under a templated key.

Idempotent: the key is deterministic, and an object already there with the same size and our
``sha256`` metadata is success with ``uploaded: false``. Below ``multipart_threshold`` the
file is sent in one PUT from memory; above it by our own multipart upload
(:mod:`filerelay.actions.s3multipart`). Every body carries Content-MD5, and with ``verify`` the
object's size and ETag are checked afterwards.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from filerelay.actions import s3multipart as mp
from filerelay.actions.base import Action, ActionContext
from filerelay.actions.fsops import source_error
from filerelay.actions.s3client import (
    error_code,
    is_not_found,
    object_url,
    s3_client,
    translate_error,
)
from filerelay.config.models import S3Connection
from filerelay.config.types import SizeBytes, TemplateStr
from filerelay.errors import PermanentError, RetryableError, RoutingError
from filerelay.model import JSONDict
from filerelay.templates import Template, safe_relative

MiB = 1024 * 1024
RESERVED_METADATA = frozenset({"sha256", "source", "relpath", "event-id"})
_METADATA_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_MD5_ETAG = re.compile(r"^[0-9a-f]{32}(-\d+)?$")
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


class S3Config(BaseModel):
    """Upload the file to an S3-compatible bucket."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connection: str = Field(description="Name of an S3 connection under 'connections'.")
    bucket: str = Field(min_length=3, max_length=63, description="Bucket name (must exist).")
    key: TemplateStr = Field(
        default="{relpath}",
        description="Object key template; must not be absolute or contain '..'.",
        examples=["{relpath}", "{source}/{date:%Y/%m/%d}/{relpath}"],
    )
    prefix: TemplateStr | None = Field(
        default=None, description="Prepended to the key, with a '/' between unless it ends in one."
    )
    storage_class: str | None = Field(
        default=None,
        pattern=r"^[A-Z_]+$",
        description="Storage class, e.g. STANDARD_IA, GLACIER_IR.",
    )
    content_type: str | None = Field(
        default=None,
        description="Content-Type; default: guessed from the key's extension, else "
        "application/octet-stream.",
    )
    metadata: dict[str, TemplateStr] = Field(
        default={},
        description="Extra user metadata (x-amz-meta-*); values are templates. sha256, "
        "source, relpath and event-id are always set.",
    )
    multipart_threshold: SizeBytes = Field(
        default=16 * MiB,
        ge=1,
        le=5 * 1024**3,
        description="Files this large or larger go multipart.",
    )
    part_size: SizeBytes = Field(
        default=8 * MiB,
        ge=mp.MIN_PART_BYTES,
        le=mp.MAX_PART_BYTES,
        description="Multipart part size; raised automatically to stay within 10,000 parts.",
    )
    concurrency: int = Field(default=8, ge=1, le=64, description="Parts uploaded in parallel.")
    verify: bool = Field(
        default=True, description="After upload, check the object's size and (MD5-style) ETag."
    )
    skip_existing: bool = Field(
        default=True, description="Skip the upload when the object has the same size and sha256."
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _METADATA_KEY.match(key):
                raise ValueError(f"metadata key {key!r}: use lower-case letters, digits, - and _")
            if key in RESERVED_METADATA:
                raise ValueError(f"metadata key {key!r} is set by filerelay itself")
        return value


class S3Action(Action[S3Config]):
    """Uploads the file; ``compensate`` deletes the object this step uploaded.

    Result: ``{bucket, key, etag, size, sha256, version_id, uploaded, parts, url,
    content_type}``.
    """

    name = "s3"
    Config = S3Config
    connection_type: ClassVar[str | None] = "s3"

    _resumed_parts = 0

    def run(self, ctx: ActionContext) -> JSONDict:
        ctx.check_unchanged()
        cfg = self.config
        client = s3_client(self.resources, cfg.connection)
        needs_hash = any(Template.parse(t).needs_sha256 for t in self._templates())
        body, digests = self._read(ctx) if needs_hash else (None, None)
        key, metadata = self._key(ctx), self._metadata(ctx)
        if digests is None:
            body, digests = self._read(ctx)
        if cfg.skip_existing:
            existing = self._head(client, key)
            if existing is not None and _same_object(existing, digests):
                return self._result(client, key, existing, digests, uploaded=False)
        args = self._object_args(self.content_type(key, ctx.path), metadata, digests)
        answer = self._upload(ctx, client, key, body, digests, args)
        multipart = body is None
        head = self._verify(client, key, answer, digests, multipart) if cfg.verify else answer
        return self._result(
            client, key, {"ContentType": args["ContentType"], **head}, digests, uploaded=True
        )

    # --- preparing -----------------------------------------------------------------

    def _templates(self) -> list[str]:
        cfg = self.config
        return [cfg.key, *([cfg.prefix] if cfg.prefix else []), *cfg.metadata.values()]

    def _key(self, ctx: ActionContext) -> str:
        try:
            key = ctx.render(self.config.key)
            if self.config.prefix:
                prefix = ctx.render(self.config.prefix)
                key = prefix + key if prefix.endswith("/") else f"{prefix}/{key}"
            return safe_relative(key, "object key")
        except RoutingError as exc:
            raise PermanentError(str(exc)) from exc

    def _metadata(self, ctx: ActionContext) -> dict[str, str]:
        ev = ctx.event
        try:
            extra = {k: ctx.render(v) for k, v in self.config.metadata.items()}
        except RoutingError as exc:
            raise PermanentError(str(exc)) from exc
        fixed = {"source": ev.source, "relpath": ev.relpath, "event-id": ev.event_id}
        return {k: _header_value(v) for k, v in {**extra, **fixed}.items()}

    def _read(self, ctx: ActionContext) -> tuple[bytes | None, mp.Digests]:
        """Read the file once: the body itself (single PUT) or the part digests; records
        the SHA-256 in ``ctx``."""
        size = ctx.event.size
        if size < self.config.multipart_threshold:
            try:
                with open(ctx.path, "rb") as fh:
                    body = fh.read()
            except OSError as exc:
                raise source_error(exc, ctx.path) from exc
            if len(body) != size:
                raise PermanentError(f"file changed while reading it: {ctx.path}")
            digests = mp.digest_bytes(body)
        else:
            part_size = mp.choose_part_size(size, self.config.part_size)
            body, digests = None, mp.digest_file(ctx.path, part_size, size)
        if ctx.event.sha256 and ctx.event.sha256 != digests.sha256:
            raise PermanentError(f"file content changed since it was hashed: {ctx.path}")
        ctx.check_unchanged()  # a write during the read would leave a torn snapshot
        ctx.set_sha256(digests.sha256)  # templates using {sha256} must not hash it again
        return body, digests

    def content_type(self, key: str, path: str) -> str:
        """The configured Content-Type, or one guessed from the key (then the file name)."""
        if self.config.content_type:
            return self.config.content_type
        guessed = mimetypes.guess_type(key)[0] or mimetypes.guess_type(path)[0]
        return guessed or "application/octet-stream"

    # --- talking to S3 --------------------------------------------------------------

    def _head(self, client: Any, key: str, version_id: str | None = None) -> JSONDict | None:
        bucket = self.config.bucket
        args = {"VersionId": version_id} if version_id else {}
        try:
            answer: JSONDict = client.head_object(Bucket=bucket, Key=key, **args)
        except Exception as exc:
            if is_not_found(exc):
                return None  # a missing bucket shows up as NoSuchBucket on the upload
            raise translate_error(exc, f"head s3://{bucket}/{key}") from exc
        return answer

    def _object_args(
        self, content_type: str, metadata: dict[str, str], digests: mp.Digests
    ) -> JSONDict:
        args: JSONDict = {
            "ContentType": content_type,
            "Metadata": {**metadata, "sha256": digests.sha256},
        }
        if self.config.storage_class:
            args["StorageClass"] = self.config.storage_class
        return args

    def _upload(
        self,
        ctx: ActionContext,
        client: Any,
        key: str,
        body: bytes | None,
        digests: mp.Digests,
        args: JSONDict,
    ) -> JSONDict:
        if body is not None:
            return self._put(client, key, body, digests, args)
        return self._multipart(ctx, client, key, digests, args)

    def _put(self, client: Any, key: str, body: bytes, digests: mp.Digests, args: JSONDict) -> Any:
        bucket = self.config.bucket
        md5 = base64.b64encode(digests.part_md5s[0]).decode("ascii")
        try:
            return client.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=md5, **args)
        except Exception as exc:
            raise translate_error(exc, f"put s3://{bucket}/{key}") from exc

    def _multipart(
        self, ctx: ActionContext, client: Any, key: str, digests: mp.Digests, args: JSONDict
    ) -> JSONDict:
        try:
            fd = os.open(ctx.path, os.O_RDONLY)
        except OSError as exc:
            raise source_error(exc, ctx.path) from exc
        try:
            upload = self._resume(ctx, client, key, digests)
            if upload is None:
                upload = mp.start(client, self.config.bucket, key, digests, args)
                ctx.log.debug("s3_multipart_started", object=upload.where, parts=upload.part_count)
            self._resumed_parts = len(upload.parts)
            save = lambda: ctx.save_checkpoint({"multipart": upload.to_json()})  # noqa: E731
            save()  # the upload id is on record before the first part goes
            try:
                mp.upload_parts(client, upload, fd, digests, self.config.concurrency, save)
                return mp.complete(client, upload)
            except PermanentError:
                mp.abort(client, upload, ctx.log)
                raise
            # anything else (retryable, a time limit, a dying worker): the parts stay, and the
            # next attempt resumes from the checkpoint
        finally:
            os.close(fd)

    def _resume(
        self, ctx: ActionContext, client: Any, key: str, digests: mp.Digests
    ) -> mp.MultipartUpload | None:
        """The upload an earlier attempt saved, with the parts the server really holds (and
        whose ETags match this file's parts); None to start afresh."""
        saved = (ctx.checkpoint or {}).get("multipart")
        if not saved:
            return None
        upload = mp.MultipartUpload.from_json(saved)
        same = (upload.bucket, upload.key, upload.size, upload.part_size) == (
            self.config.bucket,
            key,
            digests.size,
            digests.part_size,
        )
        if not same:
            mp.abort(client, upload, ctx.log)
            return None
        held = mp.listed_parts(client, upload)
        if held is None:
            return None
        upload.parts = {
            n: etag
            for n, etag in held.items()
            if 1 <= n <= len(digests.part_md5s)
            and etag.strip('"') == digests.part_md5s[n - 1].hex()
        }
        ctx.log.info("s3_multipart_resumed", object=upload.where, parts_done=len(upload.parts))
        return upload

    def _verify(
        self, client: Any, key: str, answer: JSONDict, digests: mp.Digests, multipart: bool
    ) -> JSONDict:
        """head_object: the size must match, and the ETag too when it is MD5-style."""
        head = self._head(client, key, _version_id(answer))
        where = f"s3://{self.config.bucket}/{key}"
        if head is None:
            raise RetryableError(f"verify {where}: object not found right after upload")
        if head.get("ContentLength") != digests.size:
            raise RetryableError(
                f"verify {where}: size {head.get('ContentLength')} != {digests.size} uploaded"
            )
        etag = _etag(head)
        expected = digests.expected_etag(multipart)
        if _md5_style(head, etag) and etag != expected:
            raise RetryableError(f"verify {where}: ETag {etag} != expected {expected}")
        return head

    def _result(
        self, client: Any, key: str, answer: JSONDict, digests: mp.Digests, *, uploaded: bool
    ) -> JSONDict:
        etag = _etag(answer)
        conn = self.resources.connection(self.config.connection)
        assert isinstance(conn, S3Connection)  # s3_client() checked it
        content_type = answer.get("ContentType") or self.content_type(key, "")
        return {
            "bucket": self.config.bucket,
            "key": key,
            "etag": etag,
            "size": digests.size,
            "sha256": digests.sha256,
            "version_id": _version_id(answer),
            "uploaded": uploaded,
            "parts": _part_count(etag),
            "url": object_url(client, conn, self.config.bucket, key),
            "content_type": content_type,
            "resumed_parts": self._resumed_parts,  # parts an earlier attempt had uploaded
        }

    # --- undo -----------------------------------------------------------------------

    def compensate(self, ctx: ActionContext, result: JSONDict) -> None:
        """Delete the object if this step put it there: uploaded by this run, or found in place
        with this event's id (an earlier attempt that died before recording its result)."""
        client = s3_client(self.resources, self.config.connection)
        bucket, key = str(result["bucket"]), str(result["key"])
        version_id = result.get("version_id")
        if not result.get("uploaded"):
            head = self._head(client, key, version_id)
            meta = (head or {}).get("Metadata", {})
            if meta.get("event-id") != ctx.event.event_id or meta.get("sha256") != result["sha256"]:
                return
        args = {"VersionId": version_id} if version_id else {}
        try:
            client.delete_object(Bucket=bucket, Key=key, **args)
        except Exception as exc:
            if is_not_found(exc) or error_code(exc)[0] == "NoSuchBucket":
                return
            raise translate_error(exc, f"delete s3://{bucket}/{key}") from exc


def _same_object(head: JSONDict, digests: mp.Digests) -> bool:
    meta = head.get("Metadata", {})
    return bool(meta.get("sha256") == digests.sha256 and head.get("ContentLength") == digests.size)


def _version_id(answer: JSONDict) -> str | None:
    """The object's version id; None when the bucket is not versioned (some servers say
    'null' there, and refuse it back as a version id)."""
    version = answer.get("VersionId")
    return None if version in (None, "", "null") else str(version)


def _etag(answer: JSONDict) -> str:
    return str(answer.get("ETag", "")).strip('"')


def _md5_style(head: JSONDict, etag: str) -> bool:
    """ETags are MD5s unless the object is KMS- or customer-key-encrypted."""
    encrypted = head.get("ServerSideEncryption") == "aws:kms" or head.get("SSECustomerAlgorithm")
    return bool(_MD5_ETAG.match(etag)) and not encrypted


def _part_count(etag: str) -> int:
    _, dash, count = etag.rpartition("-")
    return int(count) if dash and count.isdigit() else 1


def _header_value(value: str) -> str:
    """Metadata travels in HTTP headers: percent-encode anything outside printable ASCII."""
    from urllib.parse import quote

    if all(ch in _HEADER_SAFE for ch in value):
        return value
    return quote(value, safe=_HEADER_SAFE)
