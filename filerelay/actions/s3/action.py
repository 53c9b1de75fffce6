"""The ``s3`` action: upload the file to an S3-compatible bucket under a templated key.

Idempotent: the key is deterministic, and an object already there with the same size and
content is success with ``uploaded: false`` (see :mod:`filerelay.actions.s3.objects` for how
it is compared). Below ``multipart_threshold`` the file is read into memory, hashed and sent
in one PUT. Above it, it goes by our own multipart upload, each part read once, hashed and
sent (:mod:`filerelay.actions.s3.parts`); its SHA-256 is then known only at the end, so it is
in the result (``{steps.<name>.sha256}``) and in the object's metadata only when it was
known before (a ``{sha256}`` template or the event carries it). A single PUT carries
Content-MD5, each part Content-MD5 or a CRC32 checksum (``checksum``:
:mod:`filerelay.actions.s3.checksums`), which the server checks. With ``verify`` the object
is checked too: a single PUT's ETag in its answer, a multipart object's size by a HEAD
afterwards, with its ETag (MD5 parts) or the composite checksum its completion answered
(CRC32 parts).

The file is read once while it is sent: a write during the upload is caught by its size or
mtime changing (``check_unchanged`` before the upload completes), or by the SHA-256 not
matching one computed earlier; such an upload is aborted.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from filerelay import fsnames
from filerelay.actions.base import Action, ActionContext
from filerelay.actions.s3 import checksums
from filerelay.actions.s3 import multipart as mp
from filerelay.actions.s3.client import (
    error_code,
    is_not_found,
    object_url,
    s3_client,
    signed_put,
    translate_error,
)
from filerelay.actions.s3.digests import Digests, digest_bytes, digest_file
from filerelay.actions.s3.objects import (
    ObjectCheck,
    etag_of,
    header_value,
    md5_style,
    part_count,
    put_for_event,
    version_id,
)
from filerelay.actions.s3.parts import PartSender
from filerelay.actions.s3.signedput import put_headers
from filerelay.config.models import S3Connection
from filerelay.config.types import SizeBytes, TemplateStr
from filerelay.errors import PermanentError, RetryableError, RoutingError
from filerelay.model import JSONDict
from filerelay.safefs import SourceFile, source_error
from filerelay.templates import Template, safe_relative

MiB = 1024 * 1024
RESERVED_METADATA = frozenset({"sha256", "part-size", "source", "relpath", "event-id"})
_METADATA_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


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
        description="Extra user metadata (x-amz-meta-*); values are templates. source, "
        "relpath and event-id are always set, part-size on multipart uploads, sha256 when "
        "known before the upload starts (always below multipart_threshold).",
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
    checksum: checksums.ChecksumMode = Field(
        default="auto",
        description="How the server checks each part of a multipart upload: md5 "
        "(Content-MD5, then the object's ETag), crc32 (x-amz-checksum-crc32, then the "
        "object's composite checksum; a fifth of MD5's CPU), or auto: crc32 once the server "
        "has shown it checks them, else md5. Single PUTs always carry Content-MD5.",
    )
    verify: bool = Field(
        default=True,
        description="Check the uploaded object: a single PUT's (MD5-style) ETag from its "
        "answer; a multipart object's size by a HEAD after completing, and its ETag (MD5 "
        "parts) or the composite checksum the completion answered (CRC32 parts).",
    )
    skip_existing: bool = Field(
        default=True,
        description="Skip the upload when the object has the same size and content (its "
        "sha256 metadata, or its multipart ETag recomputed at its part-size).",
    )
    if_none_match: bool = Field(
        default=True,
        description="With skip_existing, send a single PUT with If-None-Match: * first: a "
        "new key costs one round trip instead of a HEAD and a PUT; only a key the server "
        "says exists is then compared by a HEAD. Turn it off for a server that ignores the "
        "condition (it would rewrite an identical object instead of skipping it).",
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


def _condition_refused(exc: Exception) -> bool:
    """A conditional PUT not done: the key exists (412, or 409 while another write to it
    is in flight), or the server does not implement the condition (501)."""
    code, status = error_code(exc)
    refused = {"PreconditionFailed", "ConditionalRequestConflict", "NotImplemented"}
    return code in refused or status in (409, 412, 501)


CHECKPOINT_KEY = "multipart"
"""The step checkpoint's key for an unfinished multipart upload (:class:`mp.MultipartUpload`)."""


class S3Action(Action[S3Config]):
    """Uploads the file; ``compensate`` deletes the object this step uploaded.

    Result: ``{bucket, key, etag, size, sha256, version_id, uploaded, parts, url,
    content_type, resumed_parts}``.
    """

    name = "s3"
    Config = S3Config
    connection_type: ClassVar[str | None] = "s3"

    _resumed_parts = 0

    def prepare(self) -> None:
        s3_client(self.resources, self.config.connection)  # boto3's import and client: ~0.25 s

    def concurrent(self, ctx: ActionContext) -> bool:
        """A single PUT may run beside others of an ingest batch, in threads sharing the
        process's client (thread-safe) and its connection pool; a multipart upload sends its
        own parts in parallel already."""
        return ctx.event.size < self.config.multipart_threshold

    def discard_checkpoint(self, checkpoint: JSONDict) -> str | None:
        """Abort the multipart upload an ended step left behind (its parts cost storage)."""
        saved = checkpoint.get(CHECKPOINT_KEY)
        if not saved:
            return None
        upload = mp.MultipartUpload.from_json(saved)
        client = s3_client(self.resources, self.config.connection)
        client.abort_multipart_upload(
            Bucket=upload.bucket, Key=upload.key, UploadId=upload.upload_id
        )
        return upload.where

    def run(self, ctx: ActionContext) -> JSONDict:
        with ctx.open_source() as source:  # never through a link, and the very file detected
            return self._upload(ctx, source)

    def _upload(self, ctx: ActionContext, source: SourceFile) -> JSONDict:
        cfg = self.config
        client = s3_client(self.resources, cfg.connection)
        size = ctx.event.size
        multipart = size >= cfg.multipart_threshold
        part_size = mp.choose_part_size(size, cfg.part_size) if multipart else max(size, 1)
        body, digests = (None, None) if multipart else self._read_body(ctx, source)
        if multipart and self._needs_sha256():
            digests = self._digest(ctx, source, part_size)  # the key or metadata need it first
        key, metadata = self._key(ctx), self._metadata(ctx)
        content_type = self.content_type(key, ctx.path)
        known = digests.sha256 if digests else ctx.event.sha256
        args = self._object_args(content_type, metadata, known, part_size if multipart else 0)
        sent: tuple[JSONDict, Digests] | None = None
        if body is not None and digests is not None and cfg.skip_existing and cfg.if_none_match:
            # one round trip for a new key; the server refuses it (412) when the key exists
            put = self._put(client, key, body, digests, args, if_absent=True)
            sent = (put, digests) if put is not None else None
        if sent is None and cfg.skip_existing:
            existing = self._head(client, key)
            same = (
                self._same_content(ctx, source, existing, digests, part_size) if existing else None
            )
            if existing is not None and same is not None:
                return self._result(client, key, existing, same, uploaded=False)
        if sent is None and body is not None and digests is not None:
            put = self._put(client, key, body, digests, args)
            assert put is not None  # unconditional: an answer or an error
            sent = (put, digests)
        if sent is None:
            sent = self._multipart(ctx, source, client, key, part_size, known, args)
        answer, digests = sent
        head = answer
        if cfg.verify:  # a single PUT is checked by its answer: no second round trip
            verify = self._verify if multipart else self._verify_answer
            head = verify(client, key, answer, digests, multipart)
        return self._result(
            client, key, {"ContentType": content_type, **head}, digests, uploaded=True
        )

    # --- preparing -----------------------------------------------------------------

    def _templates(self) -> list[str]:
        cfg = self.config
        return [cfg.key, *([cfg.prefix] if cfg.prefix else []), *cfg.metadata.values()]

    def _needs_sha256(self) -> bool:
        return any(Template.parse(t).needs_sha256 for t in self._templates())

    def _key(self, ctx: ActionContext) -> str:
        key = ctx.render(self.config.key)
        if self.config.prefix:
            prefix = ctx.render(self.config.prefix)
            key = prefix + key if prefix.endswith("/") else f"{prefix}/{key}"
        try:  # S3 keys are UTF-8: a name's non-UTF-8 bytes become %NN (filerelay.fsnames)
            return fsnames.s3_key(safe_relative(key, "object key"))
        except RoutingError as exc:  # a key that climbs out of the bucket's root
            raise PermanentError(str(exc)) from exc

    def _metadata(self, ctx: ActionContext) -> dict[str, str]:
        ev = ctx.event
        extra = {k: ctx.render(v) for k, v in self.config.metadata.items()}
        fixed = {"source": ev.source, "relpath": ev.relpath, "event-id": ev.event_id}
        return {k: header_value(v) for k, v in {**extra, **fixed}.items()}

    def _read_body(self, ctx: ActionContext, source: SourceFile) -> tuple[bytearray, Digests]:
        """The whole file in memory, for one PUT, and its digests."""
        size = ctx.event.size
        body = bytearray(size)  # botocore sends a bytearray without copying it first
        view, got = memoryview(body), 0
        try:
            while got < size and (more := os.preadv(source.fd, [view[got:]], got)):
                got += more
            grew = bool(os.pread(source.fd, 1, size))
        except OSError as exc:
            raise source_error(exc, ctx.path) from exc
        if got != size or grew:
            raise PermanentError(f"file changed while reading it: {ctx.path}")
        digests = digest_bytes(body)
        self._check_read(ctx, source, digests.sha256)
        return body, digests

    def _digest(self, ctx: ActionContext, source: SourceFile, part_size: int) -> Digests:
        """Hash the file without uploading it (for a template, or to compare with an object)."""
        digests = digest_file(source, part_size, ctx.event.size)
        self._check_read(ctx, source, digests.sha256)
        return digests

    def _check_read(
        self, ctx: ActionContext, source: SourceFile, sha256: str, known: str | None = None
    ) -> None:
        """After reading the whole file: it must still be the file that was detected (and
        hashed, if it was); records the SHA-256 in ``ctx`` for templates."""
        for earlier in (ctx.event.sha256, known):
            if earlier and earlier != sha256:
                raise PermanentError(f"file content changed since it was hashed: {ctx.path}")
        source.check_unchanged(ctx.identity())  # a write during the read: a torn snapshot
        ctx.set_sha256(sha256)  # templates using {sha256} must not hash it again

    def content_type(self, key: str, path: str) -> str:
        """The configured Content-Type, or one guessed from the key (then the file name)."""
        if self.config.content_type:
            return self.config.content_type
        guessed = mimetypes.guess_type(key)[0] or mimetypes.guess_type(path)[0]
        return guessed or "application/octet-stream"

    def _same_content(
        self,
        ctx: ActionContext,
        source: SourceFile,
        head: JSONDict,
        digests: Digests | None,
        part_size: int,
    ) -> Digests | None:
        """The local file's digests when the object ``head`` holds the same bytes, else None.
        The file is hashed only when the object has its size and something to compare."""
        check = ObjectCheck.from_head(head, ctx.event.size)
        if check is None:
            return None
        if check.sha256 is not None:
            mine = digests or self._digest(ctx, source, part_size)
            return mine if mine.sha256 == check.sha256 else None
        assert check.part_size is not None
        if digests is None or digests.part_size != check.part_size:
            digests = self._digest(ctx, source, check.part_size)
        return digests if digests.expected_etag(True) == check.etag else None

    # --- talking to S3 --------------------------------------------------------------

    def _head(self, client: Any, key: str, version: str | None = None) -> JSONDict | None:
        bucket = self.config.bucket
        args = {"VersionId": version} if version else {}
        try:
            answer: JSONDict = client.head_object(Bucket=bucket, Key=key, **args)
        except Exception as exc:
            if is_not_found(exc):
                return None  # a missing bucket shows up as NoSuchBucket on the upload
            raise translate_error(exc, f"head s3://{bucket}/{key}") from exc
        return answer

    def _object_args(
        self, content_type: str, metadata: dict[str, str], sha256: str | None, part_size: int
    ) -> JSONDict:
        """ContentType, Metadata (with ``sha256`` when known now, ``part-size`` when
        multipart) and StorageClass."""
        meta = dict(metadata)
        if sha256:
            meta["sha256"] = sha256
        if part_size:
            meta["part-size"] = str(part_size)
        args: JSONDict = {"ContentType": content_type, "Metadata": meta}
        if self.config.storage_class:
            args["StorageClass"] = self.config.storage_class
        return args

    def _put(
        self,
        client: Any,
        key: str,
        body: bytearray,
        digests: Digests,
        args: JSONDict,
        *,
        if_absent: bool = False,
    ) -> JSONDict | None:
        """One PUT; with ``if_absent`` (``If-None-Match: *``), None when the key exists — or
        the server does not take the condition — and nothing was written."""
        bucket = self.config.bucket
        md5 = base64.b64encode(digests.part_md5s[0]).decode("ascii")
        headers = put_headers(md5, args["ContentType"], args["Metadata"], args.get("StorageClass"))
        lean = signed_put(self.resources, self.config.connection)
        outcome = lean.put(bucket, key, body, headers, if_absent=if_absent)
        if outcome is not None:  # the server's plain answer; else put_object decides
            return outcome.answer
        condition = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            answer: JSONDict = client.put_object(
                Bucket=bucket, Key=key, Body=body, ContentMD5=md5, **condition, **args
            )
        except Exception as exc:
            if if_absent and _condition_refused(exc):
                return None
            raise translate_error(exc, f"put s3://{bucket}/{key}") from exc
        return answer

    def _multipart(
        self,
        ctx: ActionContext,
        source: SourceFile,
        client: Any,
        key: str,
        part_size: int,
        known: str | None,
        args: JSONDict,
    ) -> tuple[JSONDict, Digests]:
        """Start (or resume) the upload, send the parts, check the file, complete."""
        upload, held = self._resume(ctx, client, key, part_size)
        if upload is None:
            upload = self._start(client, key, ctx.event.size, part_size, args)
            ctx.log.debug("s3_multipart_started", object=upload.where, parts=upload.part_count)

        def save() -> None:
            ctx.save_checkpoint({CHECKPOINT_KEY: upload.to_json()})

        def learnt(crc32: bool) -> None:
            if self.config.checksum == "auto":
                self._support.crc32 = crc32
            ctx.log.info("s3_part_checksums", connection=self.config.connection, crc32=crc32)

        crc32 = self._crc32_mode() if upload.checksum else False
        save()  # the upload id is on record before the first part goes
        try:
            sender = PartSender(client, upload, source.fd, held, save, crc32, learnt)
            sent = sender.run(self.config.concurrency)
            self._resumed_parts = sent.reused
            self._check_read(ctx, source, sent.sha256, known)
            digests = Digests(
                sent.sha256, sent.part_md5s, part_size, ctx.event.size, sent.part_crc32s
            )
            return mp.complete(client, upload, sent.part_crc32s), digests
        except PermanentError:
            mp.abort(client, upload, ctx.log)
            raise
        # anything else (retryable, a time limit, a dying worker): the parts stay, and the
        # next attempt resumes from the checkpoint

    @property
    def _support(self) -> checksums.ChecksumSupport:
        """What this process has learnt of the connection's server (``checksum: auto``)."""
        return checksums.support(self.resources.clients, self.config.connection)

    def _crc32_mode(self) -> bool | None:
        """Parts go by CRC32 (True), by MD5 (False), or by both until the server answers."""
        mode = self.config.checksum
        if mode == "auto":
            return self._support.crc32
        return mode == "crc32"

    def _start(
        self, client: Any, key: str, size: int, part_size: int, args: JSONDict
    ) -> mp.MultipartUpload:
        """A new multipart upload, created for CRC32 parts unless they are known not to be
        checked; in ``auto``, a server that refuses the algorithm gets MD5 parts instead."""
        bucket = self.config.bucket
        if self._crc32_mode() is False:
            return mp.start(client, bucket, key, size, part_size, args)
        try:
            return mp.start(client, bucket, key, size, part_size, args, checksums.ALGORITHM)
        except PermanentError:
            if self.config.checksum != "auto":
                raise
            upload = mp.start(client, bucket, key, size, part_size, args)  # then it was that
            self._support.crc32 = False
            return upload

    def _resume(
        self, ctx: ActionContext, client: Any, key: str, part_size: int
    ) -> tuple[mp.MultipartUpload | None, dict[int, str]]:
        """The upload an earlier attempt saved and the parts the server holds for it (each
        kept only if its ETag is the MD5 of this file's part, checked as it is read);
        ``(None, {})`` to start afresh."""
        saved = (ctx.checkpoint or {}).get(CHECKPOINT_KEY)
        if not saved:
            return None, {}
        upload = mp.MultipartUpload.from_json(saved)
        wanted = (self.config.bucket, key, ctx.event.size, part_size)
        # an upload created for CRC32 parts and now set to md5: its completion would lack them
        crc32_lost = upload.checksum is not None and self.config.checksum == "md5"
        if (upload.bucket, upload.key, upload.size, upload.part_size) != wanted or crc32_lost:
            mp.abort(client, upload, ctx.log)
            return None, {}
        held = mp.listed_parts(client, upload)
        if held is None:
            return None, {}
        upload.parts = {}  # the sender records each part again once its bytes are checked
        ctx.log.info("s3_multipart_resumed", object=upload.where, parts_held=len(held))
        return upload, held

    def _verify(
        self, client: Any, key: str, answer: JSONDict, digests: Digests, multipart: bool
    ) -> JSONDict:
        """head_object: the size must match, and the ETag too when it is MD5-style and the
        part MD5s are known; the completion's composite checksum when the parts had CRC32s."""
        head = self._head(client, key, version_id(answer))
        where = f"s3://{self.config.bucket}/{key}"
        if head is None:
            raise RetryableError(f"verify {where}: object not found right after upload")
        if head.get("ContentLength") != digests.size:
            raise RetryableError(
                f"verify {where}: size {head.get('ContentLength')} != {digests.size} uploaded"
            )
        composite = str(answer.get("ChecksumCRC32") or "")
        if digests.part_crc32s is not None and "-" in composite:  # not a full-object CRC
            expected = checksums.composite_crc32(digests.part_crc32s)
            if composite != expected:
                raise RetryableError(f"verify {where}: CRC32 {composite} != expected {expected}")
        if not digests.part_md5s:
            return head
        etag = etag_of(head)
        expected = digests.expected_etag(multipart)
        if md5_style(head, etag) and etag != expected:
            raise RetryableError(f"verify {where}: ETag {etag} != expected {expected}")
        return head

    def _verify_answer(
        self, _client: Any, key: str, answer: JSONDict, digests: Digests, _multipart: bool
    ) -> JSONDict:
        """A single PUT: the server has checked the body against its Content-MD5 (a mismatch
        is refused as BadDigest), so its size is what was sent; its answer's ETag must be
        that MD5 too when it is MD5-style."""
        etag = etag_of(answer)
        expected = digests.expected_etag(False)
        if md5_style(answer, etag) and etag != expected:
            where = f"s3://{self.config.bucket}/{key}"
            raise RetryableError(f"verify {where}: ETag {etag} != expected {expected}")
        return answer

    def _result(
        self, client: Any, key: str, answer: JSONDict, digests: Digests, *, uploaded: bool
    ) -> JSONDict:
        etag = etag_of(answer)
        conn = self.resources.connection(self.config.connection)
        assert isinstance(conn, S3Connection)  # s3_client() checked it
        content_type = answer.get("ContentType") or self.content_type(key, "")
        return {
            "bucket": self.config.bucket,
            "key": key,
            "etag": etag,
            "size": digests.size,
            "sha256": digests.sha256,
            "version_id": version_id(answer),
            "uploaded": uploaded,
            "parts": part_count(etag),
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
        version = result.get("version_id")
        if not result.get("uploaded"):
            head = self._head(client, key, version)
            if head is None or not put_for_event(head, ctx.event.event_id, result):
                return
        args = {"VersionId": version} if version else {}
        try:
            client.delete_object(Bucket=bucket, Key=key, **args)
        except Exception as exc:
            if is_not_found(exc) or error_code(exc)[0] == "NoSuchBucket":
                return
            raise translate_error(exc, f"delete s3://{bucket}/{key}") from exc
