"""boto3 S3 clients built from an :class:`~filerelay.config.models.S3Connection`, and the one
place where botocore exceptions become filerelay errors.

::

    botocore exception                                  filerelay error
    ─────────────────────────────────────────────────   ──────────────────────
    connection refused/reset, connect/read timeout      RetryableError
    HTTP 5xx, 408, 429; SlowDown, Throttling,
      RequestTimeout, InternalError, BadDigest, ...      RetryableError
    NoSuchBucket, AccessDenied, InvalidAccessKeyId,
      other 4xx, parameter validation, no credentials   PermanentError

boto3 is imported inside functions: loading this module (to get a config model) stays cheap.
Clients are thread-safe and cached per process in ``Resources.clients`` keyed by connection name.
Error messages never carry credentials (botocore's messages do not contain them either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from filerelay.actions.base import Resources
from filerelay.config.models import S3Connection
from filerelay.errors import ActionError, PermanentError, RetryableError

if TYPE_CHECKING:
    from filerelay.actions.s3.signedput import SignedPut

# Our own retry layer backs off between attempts; botocore retries once more for a quick blip.
BOTOCORE_TOTAL_ATTEMPTS = 2

RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "TooManyRequests",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "BadDigest",  # the bytes were damaged on the way; sending them again can succeed
        "OperationAborted",  # a conflicting operation on the bucket is in progress
    }
)
RETRYABLE_STATUSES = frozenset({408, 429})


def s3_client(resources: Resources, connection: str) -> Any:
    """The process-wide boto3 client of the named S3 connection (built on first use)."""
    conn = resources.connection(connection)
    if not isinstance(conn, S3Connection):
        raise PermanentError(f"connection {connection!r} is not an S3 connection")
    return resources.clients.get(("s3", connection), lambda: build_client(conn))


def build_client(conn: S3Connection) -> Any:
    """A new boto3 S3 client for ``conn`` (its own botocore session: thread-safe to share)."""
    import boto3.session
    from botocore.config import Config

    config = Config(
        region_name=conn.region,
        connect_timeout=conn.connect_timeout,
        read_timeout=conn.read_timeout,
        max_pool_connections=conn.max_pool_connections,
        retries={"mode": "standard", "total_max_attempts": BOTOCORE_TOTAL_ATTEMPTS},
        # Every body we send carries Content-MD5 (a signed header the server checks the bytes
        # against), so the SigV4 payload hash adds nothing but a SHA-256 pass over every
        # byte. botocore skips it on its own over https with Content-MD5; this skips it over
        # plain http too (it cost 0.15 s of CPU per 256 MiB, on cores the server needs).
        s3={
            "addressing_style": "path" if conn.path_style else "auto",
            "payload_signing_enabled": False,
        },
        # We send Content-MD5 ourselves; the newer default CRC checksums are refused by
        # several S3-compatible servers, so only send/validate checksums an API requires.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=conn.endpoint_url, verify=conn.verify_ssl, config=config,
        **credential_args(conn),
    )  # fmt: skip


def signed_put(resources: Resources, connection: str) -> SignedPut:
    """The process-wide lean single PUT of the named S3 connection, over its client's HTTP
    session (:mod:`filerelay.actions.s3.signedput`)."""
    from filerelay.actions.s3.signedput import SignedPut

    client = s3_client(resources, connection)
    conn = resources.connection(connection)
    assert isinstance(conn, S3Connection)  # s3_client() checked it
    put: SignedPut = resources.clients.get(
        ("s3-put", connection), lambda: SignedPut.build(client, conn)
    )
    return put


def credential_args(conn: S3Connection) -> dict[str, str | None]:
    """The connection's keys as boto3 takes them (None: botocore's chain finds them)."""
    return {
        "aws_access_key_id": _secret(conn.access_key_id),
        "aws_secret_access_key": _secret(conn.secret_access_key),
        "aws_session_token": _secret(conn.session_token),
    }


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def error_code(exc: Exception) -> tuple[str, int]:
    """``(code, http_status)`` of a botocore ClientError (``("", 0)`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", 0
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def translate_error(exc: Exception, what: str) -> ActionError:
    """The filerelay error for a botocore exception raised while doing ``what``."""
    from botocore import exceptions as bce

    if isinstance(exc, ActionError):
        return exc
    if isinstance(exc, bce.ClientError):
        return _client_error(exc, what)
    if isinstance(exc, bce.ConnectionError | bce.HTTPClientError):
        return RetryableError(f"{what}: cannot reach the S3 endpoint: {exc}")
    if isinstance(exc, bce.IncompleteReadError | bce.ResponseStreamingError):
        return RetryableError(f"{what}: connection broke mid-response: {exc}")
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return PermanentError(f"{what}: no usable S3 credentials configured")
    if isinstance(exc, bce.BotoCoreError):
        return PermanentError(f"{what}: {exc}")
    return PermanentError(f"{what}: unexpected {type(exc).__name__}: {exc}")


def _client_error(exc: Exception, what: str) -> ActionError:
    code, status = error_code(exc)
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).strip()
    detail = f"{what}: {code or 'HTTP ' + str(status)} (HTTP {status})"
    if message:
        detail += f": {message}"
    if code in RETRYABLE_CODES or status >= 500 or status in RETRYABLE_STATUSES:
        return RetryableError(detail)
    return PermanentError(detail)


def is_not_found(exc: Exception) -> bool:
    """True for a 404 / NoSuchKey / NoSuchUpload answer."""
    code, status = error_code(exc)
    return status == 404 or code in {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


def object_url(client: Any, conn: S3Connection, bucket: str, key: str) -> str:
    """``<endpoint>/<bucket>/<key>`` (path style) or ``<scheme>://<bucket>.<host>/<key>``."""
    base = urlsplit(str(client.meta.endpoint_url))
    quoted = quote(key, safe="/~")
    if conn.path_style:
        return urlunsplit(
            (base.scheme, base.netloc, f"{base.path.rstrip('/')}/{bucket}/{quoted}", "", "")
        )
    return urlunsplit((base.scheme, f"{bucket}.{base.netloc}", f"/{quoted}", "", ""))
