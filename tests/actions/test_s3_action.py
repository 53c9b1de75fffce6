"""The s3 action against a real moto server (and tiny real HTTP servers for failures)."""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import ValidationError

from filerelay.actions import base
from filerelay.actions.base import Resources
from filerelay.actions.s3.action import S3Action, S3Config
from filerelay.actions.s3.multipart import MAX_PARTS, MultipartUpload, choose_part_size
from filerelay.errors import FileVanishedError, PermanentError, RetryableError
from tests.actions.helpers import S3_CONNECTION, make_context, make_event, s3_resources, write_file
from tests.conftest import free_port

MiB = 1024 * 1024


def s3_action(resources: Resources, bucket: str, **config: Any) -> S3Action:
    cfg = S3Config.model_validate({"connection": S3_CONNECTION, "bucket": bucket, **config})
    return S3Action(cfg, resources)


@pytest.fixture
def resources(moto_endpoint: str) -> Resources:
    return s3_resources(moto_endpoint)


def test_small_file_is_put_with_bytes_key_metadata_and_type(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    # given a small text file
    data = b"hello filerelay\n" * 10
    path = write_file(src / "sub" / "a.txt", data)
    event = make_event(path, src, source="cam")
    action = s3_action(
        resources,
        bucket,
        prefix="in",
        metadata={"team": "{tags.team}"},
        storage_class="STANDARD_IA",
    )
    ctx = make_context(event.model_copy(update={"tags": {"team": "vision"}}), resources)
    # when it is uploaded
    result = action.run(ctx)
    # then the object holds the bytes under the prefixed key, with our metadata
    obj = s3_client.get_object(Bucket=bucket, Key="in/sub/a.txt")
    assert obj["Body"].read() == data
    assert obj["ContentType"] == "text/plain"
    assert obj["Metadata"] == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "cam",
        "relpath": "sub/a.txt",
        "event-id": event.event_id,
        "team": "vision",
    }
    assert result == {
        "bucket": bucket,
        "key": "in/sub/a.txt",
        "etag": hashlib.md5(data).hexdigest(),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "version_id": None,
        "uploaded": True,
        "parts": 1,
        "url": f"{resources.connections[S3_CONNECTION].endpoint_url}/{bucket}/in/sub/a.txt",  # type: ignore[attr-defined]
        "content_type": "text/plain",
        "resumed_parts": 0,
    }
    assert ctx.sha256() == result["sha256"]


def test_non_ascii_relpath_is_percent_encoded_in_metadata(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    path = write_file(src / "été" / "ü.bin", b"\x00\x01")
    s3_action(resources, bucket).run(make_context(make_event(path, src), resources))
    head = s3_client.head_object(Bucket=bucket, Key="été/ü.bin")
    assert head["Metadata"]["relpath"] == quote("été/ü.bin", safe="/")
    assert head["ContentType"] == "application/octet-stream"


def test_large_file_goes_multipart_and_round_trips(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    # given a 64 MiB file (default threshold 16 MiB, parts of 8 MiB)
    data = os.urandom(64 * MiB)
    path = write_file(src / "big.bin", data)
    ctx = make_context(make_event(path, src), resources)
    # when it is uploaded
    started = time.monotonic()
    result = s3_action(resources, bucket).run(ctx)
    elapsed = time.monotonic() - started
    # then it went up in 8 parts whose combined ETag we predicted, and downloads intact
    assert result["uploaded"] is True
    assert result["parts"] == 8
    assert re.fullmatch(r"[0-9a-f]{32}-8", result["etag"])
    body = s3_client.get_object(Bucket=bucket, Key="big.bin")["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(MiB), b""):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest() == result["sha256"]
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    print(f"64 MiB multipart upload to moto: {elapsed:.2f} s")


def test_second_run_skips_the_identical_object(
    resources: Resources, bucket: str, src: Path
) -> None:
    path = write_file(src / "a.json", b'{"a": 1}')
    action = s3_action(resources, bucket)
    first = action.run(make_context(make_event(path, src), resources))
    second = action.run(make_context(make_event(path, src), resources, attempt=2))
    assert first["uploaded"] is True
    assert second["uploaded"] is False
    assert {k: v for k, v in second.items() if k != "uploaded"} == {
        k: v for k, v in first.items() if k != "uploaded"
    }
    assert second["content_type"] == "application/json"


def test_changed_content_is_uploaded_again(resources: Resources, bucket: str, src: Path) -> None:
    path = write_file(src / "a.txt", b"one")
    action = s3_action(resources, bucket)
    action.run(make_context(make_event(path, src), resources))
    path.write_bytes(b"two")
    assert action.run(make_context(make_event(path, src), resources))["uploaded"] is True


def test_key_template_with_date_and_source(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    path = write_file(src / "d" / "x.jpg", b"jpeg")
    action = s3_action(resources, bucket, key="{source}/{date:%Y/%m/%d}/{relpath}")
    result = action.run(make_context(make_event(path, src, source="camera"), resources))
    assert result["key"] == "camera/2024/03/05/d/x.jpg"
    assert result["content_type"] == "image/jpeg"
    s3_client.head_object(Bucket=bucket, Key="camera/2024/03/05/d/x.jpg")


def test_key_with_sha256_field_hashes_once_and_renders(
    resources: Resources, bucket: str, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_file(src / "x.bin", b"abc")
    monkeypatch.setattr(base, "hash_file", _no_second_read)
    result = s3_action(resources, bucket, key="by-hash/{sha256}").run(
        make_context(make_event(path, src), resources)
    )
    assert result["key"] == f"by-hash/{hashlib.sha256(b'abc').hexdigest()}"


def _no_second_read(path: str) -> str:
    raise AssertionError(f"{path} was read a second time to hash it")


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/abs/{name}"])
def test_key_escaping_its_root_is_permanent(
    resources: Resources, bucket: str, src: Path, key: str
) -> None:
    path = write_file(src / "x.bin", b"abc")
    with pytest.raises(PermanentError, match="object key"):
        s3_action(resources, bucket, key=key).run(make_context(make_event(path, src), resources))


def test_missing_bucket_is_permanent(resources: Resources, src: Path) -> None:
    path = write_file(src / "x.bin", b"abc")
    with pytest.raises(PermanentError, match="NoSuchBucket"):
        s3_action(resources, "no-such-bucket-here").run(
            make_context(make_event(path, src), resources)
        )


def test_endpoint_down_is_retryable(src: Path) -> None:
    resources = s3_resources(f"http://127.0.0.1:{free_port()}")
    path = write_file(src / "x.bin", b"abc")
    with pytest.raises(RetryableError, match="cannot reach"):
        s3_action(resources, "bkt").run(make_context(make_event(path, src), resources))


@pytest.mark.parametrize("skip_existing", [True, False])
def test_server_error_is_retryable(httpserver: Any, src: Path, skip_existing: bool) -> None:
    httpserver.expect_request(re.compile(".*")).respond_with_data("boom", status=500)
    resources = s3_resources(httpserver.url_for("/").rstrip("/"))
    path = write_file(src / "x.bin", b"abc")
    action = s3_action(resources, "bkt", skip_existing=skip_existing)
    with pytest.raises(RetryableError, match="500"):
        action.run(make_context(make_event(path, src), resources))


def test_multipart_upload_failing_retryably_is_kept_for_the_next_attempt(
    httpserver: Any, src: Path
) -> None:
    # given a server that starts a multipart upload but fails every part with a 503
    initiated = (
        '<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult>'
        "<Bucket>bkt</Bucket><Key>big.bin</Key><UploadId>up-1</UploadId>"
        "</InitiateMultipartUploadResult>"
    )
    httpserver.expect_request("/bkt/big.bin", method="POST").respond_with_data(initiated)
    httpserver.expect_request("/bkt/big.bin", method="PUT").respond_with_data("no", status=503)
    httpserver.expect_request("/bkt/big.bin", method="DELETE").respond_with_data("", status=204)
    resources = s3_resources(httpserver.url_for("/").rstrip("/"))
    path = write_file(src / "big.bin", os.urandom(6 * MiB))
    action = s3_action(
        resources, "bkt", multipart_threshold="1MiB", part_size="5MiB", skip_existing=False
    )
    saved: list[dict[str, Any]] = []
    ctx = make_context(make_event(path, src), resources)

    def checkpointer(data: dict[str, Any]) -> bool:
        saved.append(data)
        return True

    ctx.checkpointer = checkpointer
    # when the upload runs, then it fails retryably, and the upload is not aborted but kept
    with pytest.raises(RetryableError, match="upload part"):
        action.run(ctx)
    assert not [r for r, _ in httpserver.log if r.method == "DELETE"]
    assert saved and saved[-1]["multipart"]["upload_id"] == "up-1"


def test_vanished_file(resources: Resources, bucket: str, src: Path) -> None:
    path = write_file(src / "gone.bin", b"abc")
    event = make_event(path, src)
    path.unlink()
    with pytest.raises(FileVanishedError):
        s3_action(resources, bucket).run(make_context(event, resources))


def test_compensate_deletes_the_uploaded_object(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    path = write_file(src / "x.bin", b"abc")
    ctx = make_context(make_event(path, src), resources)
    action = s3_action(resources, bucket)
    result = action.run(ctx)
    action.compensate(ctx, result)
    assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket)
    action.compensate(ctx, result)  # idempotent: already gone is fine


def test_compensate_after_a_retry_that_found_the_object(
    resources: Resources, bucket: str, s3_client: Any, src: Path
) -> None:
    # given an attempt that uploaded and died, and a retry that found the object in place
    path = write_file(src / "x.bin", b"abc")
    event = make_event(path, src)
    action = s3_action(resources, bucket)
    action.run(make_context(event, resources))
    retry = make_context(event, resources, attempt=2)
    result = action.run(retry)
    assert result["uploaded"] is False
    # when a different event finds the same object, its compensation leaves it alone
    other = make_context(event.model_copy(update={"event_id": "other"}), resources)
    action.compensate(other, action.run(other))
    assert s3_client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    # then the retry's compensation deletes it: this event's earlier attempt put it there
    action.compensate(retry, result)
    assert s3_client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_client_is_built_once_per_connection(resources: Resources, bucket: str, src: Path) -> None:
    path = write_file(src / "x.bin", b"abc")
    action = s3_action(resources, bucket)
    action.run(make_context(make_event(path, src), resources))
    client = resources.clients.get(("s3", S3_CONNECTION), lambda: None)
    action.run(make_context(make_event(path, src), resources))
    assert resources.clients.get(("s3", S3_CONNECTION), lambda: None) is client is not None


@pytest.mark.parametrize(
    "config",
    [
        {"metadata": {"sha256": "x"}},
        {"metadata": {"Bad Key": "x"}},
        {"part_size": "1MiB"},
        {"key": "{nope}"},
        {"unknown": 1},
    ],
)
def test_bad_config_is_rejected_at_load(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        S3Config.model_validate({"connection": "c", "bucket": "bkt", **config})


def test_config_accepts_human_sizes() -> None:
    cfg = S3Config.model_validate(
        {"connection": "c", "bucket": "bkt", "multipart_threshold": "64MiB", "part_size": "16MiB"}
    )
    assert (cfg.multipart_threshold, cfg.part_size) == (64 * MiB, 16 * MiB)


def test_part_size_is_raised_to_stay_within_the_part_limit() -> None:
    size = 200 * 1024**3
    part = choose_part_size(size, 8 * MiB)
    assert part % MiB == 0 and -(-size // part) <= MAX_PARTS
    assert choose_part_size(64 * MiB, 8 * MiB) == 8 * MiB


def test_multipart_state_round_trips_through_json() -> None:
    upload = MultipartUpload("b", "k", "id", 20 * MiB, 8 * MiB, {2: '"e2"', 1: '"e1"'})
    again = MultipartUpload.from_json(upload.to_json())
    assert again == upload
    assert set(range(1, again.part_count + 1)) - again.parts.keys() == {3}
    assert again.part_range(3) == (16 * MiB, 4 * MiB)
