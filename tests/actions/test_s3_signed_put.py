"""The s3 action's lean single PUT (filerelay.actions.s3.signedput): what goes on the wire,
that a server checking signatures takes it, and that anything but a plain answer falls back
to boto3's put_object."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from filerelay.actions.base import Resources
from filerelay.actions.s3.action import S3Action, S3Config
from filerelay.actions.s3.client import s3_client, signed_put
from filerelay.errors import PermanentError
from tests.actions.helpers import S3_CONNECTION, make_context, make_event, s3_resources, write_file

LEAN_AGENT = re.compile(r"^filerelay/\S+ botocore/")


def s3_action(resources: Resources, bucket: str, **config: Any) -> S3Action:
    cfg = S3Config.model_validate({"connection": S3_CONNECTION, "bucket": bucket, **config})
    return S3Action(cfg, resources)


class Recorder:
    """An S3 stand-in on pytest-httpserver: answers each request with the next of
    ``answers`` (status, headers, and a body whose length a HEAD reports) and keeps what it
    received."""

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes]]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        self.seen.append((request.method, request.path, dict(request.headers), body))
        status, headers, content = self.answers.pop(0) if self.answers else (500, {}, b"")
        return Response(content, status=status, headers=headers)


def _verify_signature(
    method: str, url: str, headers: dict[str, str], body: bytes, secret: str
) -> None:
    """Recompute the SigV4 signature of the request as received, from its own signed
    headers: it must equal the Authorization header's."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    auth = headers["Authorization"]
    match = re.match(
        r"AWS4-HMAC-SHA256 Credential=(\w+)/(\d{8})/([\w-]+)/s3/aws4_request, "
        r"SignedHeaders=([\w;-]+), Signature=([0-9a-f]{64})$",
        auth,
    )
    assert match, auth
    key_id, _day, region, signed, signature = match.groups()
    lower = {k.lower(): v for k, v in headers.items()}
    kept = {name: lower[name] for name in signed.split(";")}
    request = AWSRequest(method=method, url=url, data=body, headers=kept)
    request.context["timestamp"] = lower["x-amz-date"]
    signer = S3SigV4Auth(ReadOnlyCredentials(key_id, secret, None), "s3", region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    assert expected == signature


@pytest.mark.parametrize("token", [None, "session-token/with+signs="])
def test_a_small_file_goes_in_one_signed_put_as_put_object_would_send_it(
    httpserver: Any, src: Path, token: str | None
) -> None:
    # given an S3 stand-in that stores the object
    data = b"frame 1\n" * 64
    md5 = hashlib.md5(data).hexdigest()
    recorder = Recorder([(200, {"ETag": f'"{md5}"', "x-amz-version-id": "v1"}, b"")])
    httpserver.expect_request(re.compile(".*")).respond_with_handler(recorder)
    resources = s3_resources(httpserver.url_for("/").rstrip("/"), session_token=token)
    path = write_file(src / "cam 1" / "é.txt", data)
    event = make_event(path, src, source="cam")
    # when the action uploads a small file
    action = s3_action(resources, "bkt", metadata={"team": "vision"}, storage_class="GLACIER_IR")
    result = action.run(make_context(event, resources))
    # then one request went: the lean PUT, with put_object's headers, signed
    assert len(recorder.seen) == 1
    method, where, headers, body = recorder.seen[0]
    assert (method, where, body) == ("PUT", "/bkt/cam 1/é.txt", data)
    assert LEAN_AGENT.match(headers["User-Agent"])
    assert headers["Content-Md5"] == base64.b64encode(bytes.fromhex(md5)).decode()
    assert headers["Content-Type"] == "text/plain"
    assert headers["Content-Length"] == str(len(data))
    assert headers["If-None-Match"] == "*"
    assert headers["X-Amz-Storage-Class"] == "GLACIER_IR"
    assert headers["X-Amz-Content-Sha256"] == "UNSIGNED-PAYLOAD"  # Content-MD5 covers it
    assert headers.get("X-Amz-Security-Token") == token
    metadata = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-amz-meta-")}
    assert metadata == {
        "x-amz-meta-team": "vision",
        "x-amz-meta-sha256": hashlib.sha256(data).hexdigest(),
        "x-amz-meta-source": "cam",
        "x-amz-meta-relpath": "cam 1/%C3%A9.txt",  # header-safe, as put_object got it
        "x-amz-meta-event-id": event.event_id,
    }
    url = httpserver.url_for("/bkt/cam%201/%C3%A9.txt")
    _verify_signature("PUT", url, headers, body, "testing")
    # and the answer is read as put_object's would be
    assert (result["etag"], result["version_id"], result["uploaded"]) == (md5, "v1", True)


def test_an_error_status_is_sent_again_by_put_object_which_decides(
    httpserver: Any, src: Path
) -> None:
    # given a server that fails the first PUT and stores the second
    data = b"abc"
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    recorder = Recorder([(503, {}, b""), (200, {"ETag": etag}, b"")])
    httpserver.expect_request(re.compile(".*")).respond_with_handler(recorder)
    resources = s3_resources(httpserver.url_for("/").rstrip("/"))
    path = write_file(src / "x.bin", data)
    # when the action uploads
    result = s3_action(resources, "bkt").run(make_context(make_event(path, src), resources))
    # then the lean PUT's 503 handed the PUT to boto3, whose put_object stored it
    agents = [headers["User-Agent"] for _, _, headers, _ in recorder.seen]
    assert len(agents) == 2 and LEAN_AGENT.match(agents[0]) and not LEAN_AGENT.match(agents[1])
    assert [seen[1] for seen in recorder.seen] == ["/bkt/x.bin", "/bkt/x.bin"]
    assert result["uploaded"] is True


def test_a_refused_condition_is_compared_by_a_head_without_a_second_put(
    httpserver: Any, src: Path
) -> None:
    # given a key that already holds the same bytes: the PUT is refused (412)
    data = b"same bytes"
    sha = hashlib.sha256(data).hexdigest()
    head = {"ETag": f'"{hashlib.md5(data).hexdigest()}"', "x-amz-meta-sha256": sha}
    recorder = Recorder([(412, {}, b""), (200, head, data)])
    httpserver.expect_request(re.compile(".*")).respond_with_handler(recorder)
    resources = s3_resources(httpserver.url_for("/").rstrip("/"))
    path = write_file(src / "x.bin", data)
    # when the action runs
    result = s3_action(resources, "bkt").run(make_context(make_event(path, src), resources))
    # then it is skipped after the lean PUT and one HEAD
    assert [seen[0] for seen in recorder.seen] == ["PUT", "HEAD"]
    assert result["uploaded"] is False and result["sha256"] == sha


def test_the_lean_put_addresses_objects_as_boto3_does(moto_endpoint: str) -> None:
    # given configured endpoints, path-style or not, with a path or not
    key = "a b/ü+%/~x.txt"
    for endpoint, path_style in (
        (moto_endpoint, True),
        ("https://s3.example.test", False),
        ("https://s3.example.test/base/", False),
    ):
        resources = s3_resources(endpoint, path_style=path_style)
        client = s3_client(resources, S3_CONNECTION)
        # then the lean PUT's URL is the one botocore signs for put_object
        theirs = client.generate_presigned_url("put_object", {"Bucket": "bkt", "Key": key})
        mine = signed_put(resources, S3_CONNECTION).url("bkt", key)
        assert mine == theirs.split("?", 1)[0]
    # and AWS's own endpoints, with their addressing rules, are left to boto3
    aws = s3_resources(None, path_style=False)
    assert signed_put(aws, S3_CONNECTION).url("bkt", key) is None


# --- against a server that checks signatures ------------------------------------------------


def test_a_server_that_checks_signatures_stores_the_lean_put(seaweedfs: Any, src: Path) -> None:
    # given SeaweedFS with one access key, and a bucket
    bucket = seaweedfs.make_bucket("lean-put")
    resources = s3_resources(
        seaweedfs.endpoint, access_key_id=seaweedfs.key, secret_access_key=seaweedfs.secret
    )
    data = json.dumps({"reading": list(range(200))}).encode()
    path = write_file(src / "inst" / "r.json", data)
    # when the action uploads it, twice
    action = s3_action(resources, bucket)
    first = action.run(make_context(make_event(path, src), resources))
    again = action.run(make_context(make_event(path, src), resources))
    # then the object holds the bytes, and the second run found it in place
    obj = seaweedfs.client().get_object(Bucket=bucket, Key="inst/r.json")
    assert obj["Body"].read() == data
    assert obj["ContentType"] == "application/json"
    assert obj["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert (first["uploaded"], again["uploaded"]) == (True, False)


def test_a_wrong_secret_is_refused_and_reported_by_put_object(seaweedfs: Any, src: Path) -> None:
    # given a connection whose secret the server does not know
    bucket = seaweedfs.make_bucket("lean-put-denied")
    resources = s3_resources(
        seaweedfs.endpoint, access_key_id=seaweedfs.key, secret_access_key="not-the-secret"
    )
    path = write_file(src / "x.bin", b"abc")
    # when the action uploads: the server refuses the lean PUT, then put_object's
    with pytest.raises(PermanentError, match="SignatureDoesNotMatch"):
        s3_action(resources, bucket).run(make_context(make_event(path, src), resources))
    # and nothing was stored
    assert seaweedfs.count(bucket) == 0
