"""The s3 action's streamed multipart upload: each part read once, hashed and sent; what it
records on the object, how a later run recognises that object, and how a file written to
mid-upload is caught. Against a real moto server."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

from filerelay.actions.base import Resources
from filerelay.actions.s3 import action as s3_module
from filerelay.actions.s3.action import S3Action, S3Config
from filerelay.errors import PermanentError, RetryableError
from tests.actions import helpers
from tests.actions.helpers import S3_CONNECTION, make_context, make_event, s3_resources, write_file

MiB = 1024 * 1024
SMALL_PARTS = {"multipart_threshold": "1MiB", "part_size": "5MiB"}


def s3_action(resources: Resources, bucket: str, **config: Any) -> S3Action:
    cfg = S3Config.model_validate({"connection": S3_CONNECTION, "bucket": bucket, **config})
    return S3Action(cfg, resources)


@pytest.fixture
def resources(moto_endpoint: str) -> Resources:
    return s3_resources(moto_endpoint)


def _no_hashing_pass(path: str, part_size: int, expected_size: int) -> Any:
    raise AssertionError(f"{path} was hashed in a pass of its own before the upload")


def test_multipart_upload_reads_the_file_once_and_records_its_part_size(
    resources: Resources, bucket: str, s3_client: Any, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a 23 MiB file (5 parts of 5 MiB), no template that needs its SHA-256
    data = os.urandom(23 * MiB)
    path = write_file(src / "big.bin", data)
    monkeypatch.setattr(s3_module, "digest_file", _no_hashing_pass)
    ctx = make_context(make_event(path, src), resources)
    # when it is uploaded
    result = s3_action(resources, bucket, **SMALL_PARTS, concurrency=3).run(ctx)
    # then no separate hashing pass ran, the result has the file's SHA-256 and the object
    # records the part size (its SHA-256 was not known when the upload was created)
    sha = hashlib.sha256(data).hexdigest()
    assert result["uploaded"] is True and result["sha256"] == sha == ctx.sha256()
    assert result["parts"] == 5 and re.fullmatch(r"[0-9a-f]{32}-5", result["etag"])
    head = s3_client.head_object(Bucket=bucket, Key="big.bin")
    assert head["Metadata"]["part-size"] == str(5 * MiB)
    assert "sha256" not in head["Metadata"]
    body = s3_client.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert body == data


def test_second_run_skips_an_object_the_streamed_upload_put_there(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    # given a file uploaded by the streamed multipart path
    data = os.urandom(11 * MiB)
    path = write_file(src / "big.bin", data)
    action = s3_action(resources, bucket, **SMALL_PARTS)
    first = action.run(make_context(make_event(path, src), resources))
    # when it runs again (a retry, a duplicate event)
    second = action.run(make_context(make_event(path, src), resources, attempt=2))
    # then the object is recognised by its multipart ETag at the recorded part size
    assert (first["uploaded"], second["uploaded"]) == (True, False)
    assert second["sha256"] == first["sha256"] == hashlib.sha256(data).hexdigest()
    assert second["etag"] == first["etag"] and second["parts"] == 3
    versions = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert len(versions) == 1


def test_same_size_other_bytes_is_uploaded_again(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    path = write_file(src / "big.bin", os.urandom(6 * MiB))
    action = s3_action(resources, bucket, **SMALL_PARTS)
    action.run(make_context(make_event(path, src), resources))
    other = os.urandom(6 * MiB)
    path.write_bytes(other)
    result = action.run(make_context(make_event(path, src), resources))
    assert result["uploaded"] is True
    assert s3_client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == other


def test_sha256_template_puts_the_digest_in_metadata_and_skips_by_it(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    # given a key that needs the SHA-256 before the upload starts
    data = os.urandom(7 * MiB)
    path = write_file(src / "big.bin", data)
    action = s3_action(resources, bucket, key="by-hash/{sha256}", **SMALL_PARTS)
    first = action.run(make_context(make_event(path, src), resources))
    second = action.run(make_context(make_event(path, src), resources))
    # then the object carries it as metadata, and the second run is skipped by it
    sha = hashlib.sha256(data).hexdigest()
    head = s3_client.head_object(Bucket=bucket, Key=f"by-hash/{sha}")
    assert head["Metadata"]["sha256"] == sha
    assert (first["uploaded"], second["uploaded"]) == (True, False)


def test_a_digest_the_event_carries_goes_into_metadata(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    # given an event from a dedup: content source, which carries the file's SHA-256
    data = os.urandom(6 * MiB)
    path = write_file(src / "big.bin", data)
    sha = hashlib.sha256(data).hexdigest()
    result = s3_action(resources, bucket, **SMALL_PARTS).run(
        make_context(make_event(path, src, sha256=sha), resources)
    )
    # then it is in the object's metadata from the start, next to the part size
    meta = s3_client.head_object(Bucket=bucket, Key="big.bin")["Metadata"]
    assert (meta["sha256"], meta["part-size"]) == (sha, str(5 * MiB))
    assert result["sha256"] == sha


def test_a_write_during_the_upload_aborts_it(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    # given a 16 MiB file sent one 5 MiB part at a time
    data = os.urandom(16 * MiB)
    path = write_file(src / "big.bin", data)
    ctx = make_context(make_event(path, src), resources)
    saves: list[int] = []

    def writes_into_a_later_part(_data: dict[str, Any]) -> bool:
        saves.append(1)
        if len(saves) == 2:  # the first part is done: another process rewrites part 3
            with open(path, "r+b") as fh:
                fh.seek(12 * MiB)
                fh.write(b"\xff" * 4096)
        return True

    ctx.checkpointer = writes_into_a_later_part
    action = s3_action(resources, bucket, **SMALL_PARTS, concurrency=1, skip_existing=False)
    # when it is uploaded, then the change is caught before the upload completes
    with pytest.raises(PermanentError, match="changed"):
        action.run(ctx)
    assert s3_client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_write_that_keeps_size_and_mtime_is_caught_by_the_known_digest(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    # given an event that carries the file's SHA-256 (a dedup: content source)
    data = os.urandom(11 * MiB)
    path = write_file(src / "big.bin", data)
    event = make_event(path, src, sha256=hashlib.sha256(data).hexdigest())
    ctx = make_context(event, resources)
    saves: list[int] = []

    def rewrites_keeping_the_mtime(_data: dict[str, Any]) -> bool:
        saves.append(1)
        if len(saves) == 2:
            with open(path, "r+b") as fh:
                fh.seek(10 * MiB)
                fh.write(b"\x00" * 4096)
            os.utime(path, ns=(event.mtime_ns, event.mtime_ns))
        return True

    ctx.checkpointer = rewrites_keeping_the_mtime
    action = s3_action(resources, bucket, **SMALL_PARTS, concurrency=1, skip_existing=False)
    # when it is uploaded, then the bytes sent do not hash to the known digest: aborted
    with pytest.raises(PermanentError, match="content changed"):
        action.run(ctx)
    assert s3_client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_resumed_parts_whose_bytes_differ_are_sent_again(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    # given an attempt that sent two parts of one content and was cut off
    path = write_file(src / "big.bin", os.urandom(16 * MiB))
    # (an event without a ctime, as an older watcher sent: with one, the rewrite below is
    # refused before any part is read, as a new file version)
    event = make_event(path, src, ctime_ns=0)
    action = s3_action(resources, bucket, **SMALL_PARTS, concurrency=1, skip_existing=False)
    checkpoint = helpers.cut_off(action, event, resources, saves=2)
    # and bytes that changed behind the same size and mtime before the next attempt
    other = os.urandom(16 * MiB)
    path.write_bytes(other)
    os.utime(path, ns=(event.mtime_ns, event.mtime_ns))
    second = make_context(event, resources, attempt=2)
    second.checkpoint = checkpoint
    # when the next attempt resumes, then no held part matches: all are sent again
    result = action.run(second)
    assert result["resumed_parts"] == 0 and result["parts"] == 4
    assert s3_client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == other


def test_compensate_finds_a_streamed_object_put_by_this_event(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    # given an attempt that uploaded a multipart object, and a retry that found it in place
    path = write_file(src / "big.bin", os.urandom(6 * MiB))
    event = make_event(path, src)
    action = s3_action(resources, bucket, **SMALL_PARTS)
    action.run(make_context(event, resources))
    retry = make_context(event, resources, attempt=2)
    result = action.run(retry)
    assert result["uploaded"] is False
    # when another event's run compensates, the object stays; this event's removes it
    other = make_context(event.model_copy(update={"event_id": "other"}), resources)
    action.compensate(other, action.run(other))
    assert s3_client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    action.compensate(retry, result)
    assert s3_client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_bodies_go_unsigned_with_content_md5(httpserver: Any, src: Path) -> None:
    # given a plain-http endpoint (botocore would otherwise SHA-256 every body to sign it)
    data = b"abc"
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    httpserver.expect_request("/bkt/x.bin", method="PUT").respond_with_data(
        "", headers={"ETag": etag}
    )
    resources = s3_resources(httpserver.url_for("/").rstrip("/"))
    path = write_file(src / "x.bin", data)
    action = s3_action(resources, "bkt", skip_existing=False, verify=False)
    action.run(make_context(make_event(path, src), resources))
    # then the PUT carries Content-MD5 (checked by the server) and an unsigned payload
    [(request, _)] = [(r, a) for r, a in httpserver.log if r.method == "PUT"]
    assert request.headers["Content-MD5"] == "kAFQmDzST7DWlj99KOF/cg=="
    assert request.headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert request.get_data() == data


def test_a_single_put_is_verified_by_its_answer_without_a_second_request(
    httpserver: Any, src: Path
) -> None:
    # given an endpoint with no such object yet, answering a PUT with the body's MD5 ETag
    data = b"small file"
    httpserver.expect_request("/bkt/x.bin", method="HEAD").respond_with_data("", status=404)
    httpserver.expect_request("/bkt/x.bin", method="PUT").respond_with_data(
        "", headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'}
    )
    resources = s3_resources(httpserver.url_for("/").rstrip("/"))
    path = write_file(src / "x.bin", data)
    # when it is uploaded with verify and skip_existing on (the defaults)
    result = s3_action(resources, "bkt").run(make_context(make_event(path, src), resources))
    # then one PUT went out, only if the key is absent (no HEAD before, nothing after)
    assert [r.method for r, _ in httpserver.log] == ["PUT"]
    assert httpserver.log[0][0].headers["If-None-Match"] == "*"
    assert result["uploaded"] is True and result["etag"] == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("status", [412, 501])
def test_a_key_that_exists_or_a_server_without_the_condition_is_compared_by_a_head(
    httpserver: Any, src: Path, status: int
) -> None:
    # given an endpoint that refuses the conditional PUT (412: the key exists; 501: it does
    # not implement the condition), where the object holds other bytes
    data = b"small file"
    refused = "PreconditionFailed" if status == 412 else "NotImplemented"
    body = f"<Error><Code>{refused}</Code><Message>no</Message></Error>"
    httpserver.expect_ordered_request("/bkt/x.bin", method="PUT").respond_with_data(
        body, status=status, content_type="application/xml"
    )
    httpserver.expect_ordered_request("/bkt/x.bin", method="HEAD").respond_with_data(
        "", headers={"Content-Length": "3", "ETag": '"0123456789abcdef0123456789abcdef"'}
    )
    httpserver.expect_ordered_request("/bkt/x.bin", method="PUT").respond_with_data(
        "", headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'}
    )
    resources = s3_resources(httpserver.url_for("/").rstrip("/"))
    path = write_file(src / "x.bin", data)
    # when it is uploaded
    result = s3_action(resources, "bkt").run(make_context(make_event(path, src), resources))
    # then the HEAD found another object, and a plain PUT replaced it
    requests = [r for r, _ in httpserver.log]
    assert [r.method for r in requests] == ["PUT", "HEAD", "PUT"]
    assert "If-None-Match" not in requests[2].headers
    assert result["uploaded"] is True


def test_without_if_none_match_a_head_comes_first(httpserver: Any, src: Path) -> None:
    data = b"small file"
    httpserver.expect_request("/bkt/x.bin", method="HEAD").respond_with_data("", status=404)
    httpserver.expect_request("/bkt/x.bin", method="PUT").respond_with_data(
        "", headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'}
    )
    resources = s3_resources(httpserver.url_for("/").rstrip("/"))
    path = write_file(src / "x.bin", data)
    action = s3_action(resources, "bkt", if_none_match=False)
    action.run(make_context(make_event(path, src), resources))
    assert [r.method for r, _ in httpserver.log] == ["HEAD", "PUT"]
    assert "If-None-Match" not in httpserver.log[1][0].headers


def test_a_put_answered_with_another_etag_is_retried(httpserver: Any, src: Path) -> None:
    httpserver.expect_request("/bkt/x.bin", method="PUT").respond_with_data(
        "", headers={"ETag": '"00000000000000000000000000000000"'}
    )
    resources = s3_resources(httpserver.url_for("/").rstrip("/"))
    path = write_file(src / "x.bin", b"small file")
    action = s3_action(resources, "bkt", skip_existing=False)
    with pytest.raises(RetryableError, match="ETag"):
        action.run(make_context(make_event(path, src), resources))
