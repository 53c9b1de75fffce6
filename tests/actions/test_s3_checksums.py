"""How the parts of a multipart upload are checked (filerelay.actions.s3.checksums): CRC32 on
a server that checks them (SeaweedFS), Content-MD5 on one that ignores them (moto), learnt
from the server's first answer. The requests are watched through botocore's own events."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from filerelay.actions.base import Resources
from filerelay.actions.s3 import checksums
from filerelay.actions.s3.action import S3Action, S3Config
from filerelay.actions.s3.client import s3_client
from filerelay.errors import PermanentError, RetryableError
from tests.actions import helpers
from tests.actions.helpers import S3_CONNECTION, make_context, make_event, s3_resources, write_file

MiB = 1024 * 1024
PARTS = {"multipart_threshold": "1MiB", "part_size": "5MiB", "concurrency": 1}


def s3_action(resources: Resources, bucket: str, **config: Any) -> S3Action:
    cfg = S3Config.model_validate({"connection": S3_CONNECTION, "bucket": bucket, **config})
    return S3Action(cfg, resources)


class Wire:
    """The checksum headers of each request of one kind the client sends."""

    def __init__(self, resources: Resources) -> None:
        self.parts: list[set[str]] = []
        self.creates: list[set[str]] = []
        events = s3_client(resources, S3_CONNECTION).meta.events
        events.register("before-send.s3.UploadPart", self._seen(self.parts))
        events.register("before-send.s3.CreateMultipartUpload", self._seen(self.creates))

    @staticmethod
    def _seen(into: list[set[str]]) -> Any:
        def record(request: Any, **_: Any) -> None:
            names = {k.lower() for k in request.headers}
            into.append(names & {"content-md5", "x-amz-checksum-crc32", "x-amz-checksum-algorithm"})

        return record


BOTH = {"content-md5", "x-amz-checksum-crc32"}
MD5 = {"content-md5"}
CRC = {"x-amz-checksum-crc32"}


def part_crc32s(data: bytes, part_size: int = 5 * MiB) -> list[int]:
    return [zlib.crc32(data[i : i + part_size]) for i in range(0, len(data), part_size)]


@pytest.fixture
def weed(seaweedfs: Any) -> Resources:
    return s3_resources(
        seaweedfs.endpoint, access_key_id=seaweedfs.key, secret_access_key=seaweedfs.secret
    )


def test_a_server_that_checks_crc32_gets_crc32_parts_and_a_checked_composite(
    seaweedfs: Any, weed: Resources, src: Path
) -> None:
    # given SeaweedFS, which checks and echoes x-amz-checksum-crc32, and a 23 MiB file
    bucket = seaweedfs.make_bucket("crc-parts")
    data = os.urandom(23 * MiB)
    path = write_file(src / "big.bin", data)
    wire = Wire(weed)
    action = s3_action(weed, bucket, **PARTS)
    # when it is uploaded (checksum: auto, the default), and then a second file
    result = action.run(make_context(make_event(path, src), weed))
    other = write_file(src / "other.bin", data[: 11 * MiB])
    action.run(make_context(make_event(other, src), weed))
    # then the first part carried both checks, and every later part a CRC32 alone
    assert wire.parts == [BOTH] + [CRC] * 4 + [CRC] * 3
    assert all("x-amz-checksum-algorithm" in sent for sent in wire.creates)
    assert checksums.support(weed.clients, S3_CONNECTION).crc32 is True
    # and the object holds the bytes, with the composite checksum of the parts' CRC32s
    client = seaweedfs.client()
    head = client.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == checksums.composite_crc32(part_crc32s(data))
    assert client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data
    assert result["uploaded"] is True and result["parts"] == 5
    assert result["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_resumed_crc32_upload_keeps_the_parts_the_server_holds(
    seaweedfs: Any, weed: Resources, src: Path
) -> None:
    # given a CRC32 upload of 6 parts cut off after a few (the server's support is known)
    bucket = seaweedfs.make_bucket("crc-resume")
    checksums.support(weed.clients, S3_CONNECTION).crc32 = True
    data = os.urandom(26 * MiB)
    path = write_file(src / "big.bin", data)
    action = s3_action(weed, bucket, **PARTS, skip_existing=False)
    event = make_event(path, src)
    checkpoint = helpers.cut_off(action, event, weed, saves=3)
    assert checkpoint["multipart"]["checksum"] == "CRC32"
    held = len(checkpoint["multipart"]["parts"])
    # when the next attempt resumes it
    second = make_context(event, weed, attempt=2)
    second.checkpoint, second.checkpointer = checkpoint, lambda _c: True
    result = action.run(second)
    # then only the rest went, and the object has every part's CRC32 in its composite
    assert result["resumed_parts"] == held >= 1 and result["parts"] == 6
    head = seaweedfs.client().head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == checksums.composite_crc32(part_crc32s(data))
    body = seaweedfs.client().get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert body == data


def test_a_server_that_ignores_crc32_gets_md5_parts_and_an_etag_check(
    moto_endpoint: str, bucket: str, s3_client: Any, src: Path
) -> None:
    # given moto, which takes x-amz-checksum-crc32 without checking or echoing it
    resources = s3_resources(moto_endpoint)
    wire = Wire(resources)
    data = os.urandom(16 * MiB)
    path = write_file(src / "big.bin", data)
    action = s3_action(resources, bucket, **PARTS)
    # when two files are uploaded (checksum: auto)
    result = action.run(make_context(make_event(path, src), resources))
    other = write_file(src / "other.bin", data[: 11 * MiB])
    action.run(make_context(make_event(other, src), resources))
    # then the first part carried both, the rest Content-MD5 alone, and the second upload
    # is not even created for CRC32 parts
    assert wire.parts == [BOTH] + [MD5] * 3 + [MD5] * 3
    assert ["x-amz-checksum-algorithm" in sent for sent in wire.creates] == [True, False]
    assert checksums.support(resources.clients, S3_CONNECTION).crc32 is False
    md5s = [hashlib.md5(data[i : i + 5 * MiB]).digest() for i in range(0, len(data), 5 * MiB)]
    assert result["etag"] == f"{hashlib.md5(b''.join(md5s)).hexdigest()}-4"
    assert s3_client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data


def test_crc32_required_of_a_server_that_ignores_it_fails_and_leaves_nothing(
    moto_endpoint: str, bucket: str, s3_client: Any, src: Path
) -> None:
    # given checksum: crc32 against moto, which does not check CRC32 checksums
    resources = s3_resources(moto_endpoint)
    path = write_file(src / "big.bin", os.urandom(12 * MiB))
    action = s3_action(resources, bucket, **PARTS, checksum="crc32")
    # when the file is uploaded, then the step fails saying what to set
    with pytest.raises(PermanentError, match=r"did not confirm the part's CRC32.*checksum: md5"):
        action.run(make_context(make_event(path, src), resources))
    # and the upload was aborted: no object, no parts left to pay for
    assert s3_client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_md5_parts_when_set_carry_no_crc32(seaweedfs: Any, weed: Resources, src: Path) -> None:
    # given checksum: md5 on a server that would check CRC32s
    bucket = seaweedfs.make_bucket("md5-parts")
    wire = Wire(weed)
    data = os.urandom(11 * MiB)
    path = write_file(src / "big.bin", data)
    # when it is uploaded
    action = s3_action(weed, bucket, **PARTS, checksum="md5")
    result = action.run(make_context(make_event(path, src), weed))
    # then every part carried Content-MD5 alone, and the object's ETag was checked
    assert wire.parts == [MD5] * 3 and wire.creates == [set()]
    assert result["uploaded"] is True and result["etag"].endswith("-3")


class CrcServer:
    """A multipart endpoint that answers each part with a CRC32 (its own, or a wrong one) and
    the completion with a composite checksum (right or wrong), recording what it was asked."""

    UPLOAD = (
        "<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>"
    )

    def __init__(self, *, part_crc_right: bool, composite: str | None) -> None:
        self.part_crc_right, self.composite = part_crc_right, composite
        self.crcs: list[int] = []
        self.calls: list[str] = []

    def __call__(self, request: Request) -> Response:
        if request.method == "POST" and "uploads" in request.args:
            self.calls.append("create")
            return Response(self.UPLOAD, content_type="application/xml")
        if request.method == "PUT" and "partNumber" in request.args:
            self.calls.append("part")
            crc = zlib.crc32(request.get_data()) ^ (0 if self.part_crc_right else 1)
            self.crcs.append(crc)
            headers = {"ETag": '"0123456789abcdef0123456789abcdef"'}
            headers["x-amz-checksum-crc32"] = checksums.crc32_header(crc)
            return Response("", headers=headers)
        if request.method == "POST" and "uploadId" in request.args:
            self.calls.append("complete")
            composite = self.composite or checksums.composite_crc32(self.crcs)
            body = (
                "<CompleteMultipartUploadResult><ETag>&quot;abc-2&quot;</ETag>"
                f"<ChecksumCRC32>{composite}</ChecksumCRC32></CompleteMultipartUploadResult>"
            )
            return Response(body, content_type="application/xml")
        if request.method == "DELETE":
            self.calls.append("abort")
            return Response("", status=204)
        if request.method == "HEAD":
            self.calls.append("head")
            head = Response("", headers={"ETag": '"abc-2"'})
            head.headers["Content-Length"] = str(10 * MiB)  # after the empty body set it to 0
            return head
        return Response("", status=400)


def _upload_to(httpserver: Any, server: CrcServer, src: Path) -> Any:
    httpserver.expect_request(re.compile(".*")).respond_with_handler(server)
    resources = s3_resources(httpserver.url_for("/").rstrip("/"))
    path = write_file(src / "big.bin", os.urandom(10 * MiB))
    action = s3_action(resources, "bkt", **PARTS, skip_existing=False, checksum="crc32")
    return action.run(make_context(make_event(path, src), resources))


def test_a_part_whose_echoed_crc32_differs_is_retried(httpserver: Any, src: Path) -> None:
    # given a server that answers a part with another CRC32 than the one sent
    server = CrcServer(part_crc_right=False, composite=None)
    # when a file goes up in CRC32 parts, then the step fails to be retried, upload kept
    with pytest.raises(RetryableError, match=r"part 1 of s3://bkt/big.bin: the server has CRC32"):
        _upload_to(httpserver, server, src)
    assert server.calls == ["create", "part"]


def test_a_completed_object_with_another_composite_is_retried(httpserver: Any, src: Path) -> None:
    # given a server that checks each part but completes with another composite checksum
    wrong = base64.b64encode(b"\0\0\0\0").decode() + "-2"
    server = CrcServer(part_crc_right=True, composite=wrong)
    # when a file goes up in CRC32 parts, then verify finds it out
    with pytest.raises(RetryableError, match=r"verify s3://bkt/big.bin: CRC32 AAAAAA==-2 != "):
        _upload_to(httpserver, server, src)
    assert server.calls == ["create", "part", "part", "complete", "head"]


def test_the_composite_of_part_crc32s_is_the_crc32_of_their_bytes() -> None:
    # the value SeaweedFS gave two 5 MiB parts of b"x" (see the first test for a live check)
    part = zlib.crc32(b"x" * 5 * MiB)
    assert checksums.composite_crc32([part, part]) == "9286hw==-2"
    assert checksums.crc32_header(0) == "AAAAAA=="
