"""SDK and OS errors become RetryableError or PermanentError at the actions' edge (tables)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from filerelay import safefs
from filerelay.actions.fs import ops as fsops
from filerelay.actions.fs.destinations import Destination
from filerelay.actions.s3.client import translate_error
from filerelay.errors import FileVanishedError, PermanentError, RetryableError


def client_error(code: str, status: int) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "PutObject")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("SlowDown", 503), RetryableError),
        (client_error("Throttling", 400), RetryableError),
        (client_error("RequestTimeout", 400), RetryableError),
        (client_error("InternalError", 500), RetryableError),
        (client_error("TooManyRequests", 429), RetryableError),
        (client_error("500", 500), RetryableError),
        (client_error("NoSuchBucket", 404), PermanentError),
        (client_error("AccessDenied", 403), PermanentError),
        (client_error("InvalidAccessKeyId", 403), PermanentError),
        (client_error("InvalidArgument", 400), PermanentError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), RetryableError),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), RetryableError),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), RetryableError),
        (NoCredentialsError(), PermanentError),
        (ParamValidationError(report="bad Bucket"), PermanentError),
    ],
)
def test_botocore_errors(exc: Exception, expected: type[Exception]) -> None:
    err = translate_error(exc, "put s3://b/k")
    assert type(err) is expected
    assert str(err).startswith("put s3://b/k: ")


@pytest.mark.parametrize(
    ("code", "expected", "words"),
    [
        (errno.ENOSPC, PermanentError, "no space left on device writing /d/x"),
        (errno.EDQUOT, PermanentError, "disk quota exceeded writing /d/x"),
        (errno.EROFS, PermanentError, "read-only file system writing /d/x"),
        (errno.EACCES, PermanentError, "permission denied writing /d/x"),
        (errno.EIO, RetryableError, "writing /d/x"),
        (errno.EAGAIN, RetryableError, "writing /d/x"),
        (errno.ESTALE, RetryableError, "writing /d/x"),
    ],
)
def test_os_errors(code: int, expected: type[Exception], words: str) -> None:
    err = safefs.os_error(OSError(code, "whatever"), "writing", "/d/x")
    assert type(err) is expected and str(err).endswith(words)


def test_missing_source_is_vanished() -> None:
    err = safefs.source_error(FileNotFoundError(errno.ENOENT, "gone"), "/s/x")
    assert isinstance(err, FileVanishedError)


def test_atomic_copy_without_overwrite_never_clobbers(tmp_path: Path) -> None:
    src = tmp_path / "a"
    src.write_bytes(b"new")
    dest = tmp_path / "out" / "a"
    dest.parent.mkdir()
    dest.write_bytes(b"old")
    with (
        pytest.raises(FileExistsError),
        safefs.open_file(str(tmp_path), ["a"]) as source,
        Destination(str(tmp_path), ("out", "a")).parent() as entry,
    ):
        fsops.atomic_copy(source, entry, overwrite=False, mode=0o644)
    assert dest.read_bytes() == b"old"
    assert [p.name for p in dest.parent.iterdir()] == ["a"]
