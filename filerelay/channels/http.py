"""The one HTTP layer: the ``webhook`` action, the ``notify`` chat channels and the alert
channels all send through it. Sessions, one bounded exchange, statuses and errors translated.

::

    outcome                                              filerelay error
    ──────────────────────────────────────────────────   ──────────────────────
    2xx                                                  (success)
    408, 429 (Retry-After quoted in the message), 5xx    RetryableError
    connection refused/reset, connect or read timeout    RetryableError
    3xx (redirects are followed only for GET)            PermanentError
    other 4xx (status + a bounded, redacted excerpt)     PermanentError
    TLS verification failure, invalid URL or header      PermanentError

requests is imported inside functions. Callers pool sessions per process (the actions in
``Resources.clients``); a session keeps no cookies, so one receiver's cookies never ride along to
another. Error messages name the endpoint by ``where``: the webhook action uses the URL without
its user info or query (where secrets live), the chat and alert channels, whose URL path holds
their token, only its origin (:func:`post`). They never carry the headers; third-party
exceptions are not chained to them, because urllib3's messages quote the full URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from filerelay import __version__
from filerelay.errors import ActionError, PermanentError, RetryableError
from filerelay.redaction import redact

USER_AGENT = f"filerelay/{__version__}"
CONNECT_TIMEOUT_S = 10.0  # chat and alert channels: connect within this, answer within theirs
CHANNEL_RESPONSE_BYTES = 1024  # chat and alert channels: answer bytes kept (errors, errcode)
POOL_MAXSIZE = 32
READ_CHUNK_BYTES = 8192
RETRYABLE_STATUSES = frozenset({408, 429})
CROSS_ORIGIN_HEADERS = frozenset(
    {"user-agent", "accept", "accept-encoding", "connection", "idempotency-key", "webhook-id"}
)


# The status line of an error: the webhook action's names method, URL and reason phrase; the
# channels' (chat robots, alerts) says who answered what (their tests pin both wordings).
DETAILED_STATUS = "{where}: HTTP {status} {reason}"
BRIEF_STATUS = "{where} answered HTTP {status}"


def new_session(verify: bool | str = True) -> Any:
    """A session with a connection pool, no automatic retries and no cookie jar."""
    from http.cookiejar import DefaultCookiePolicy

    from requests.adapters import HTTPAdapter

    session = _session_class()()
    session.verify = verify
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=POOL_MAXSIZE, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@lru_cache(maxsize=1)
def _session_class() -> Any:
    import requests

    class Session(requests.Session):
        """A requests session that, on a (GET) redirect to another origin, drops every header
        that may carry a secret: requests itself strips only Authorization."""

        def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
            super().rebuild_auth(prepared_request, response)
            if self.should_strip_auth(response.request.url, prepared_request.url):
                for name in list(prepared_request.headers):
                    if name.lower() not in CROSS_ORIGIN_HEADERS:
                        del prepared_request.headers[name]

    return Session


@dataclass(frozen=True)
class HttpRequest:
    """One request to make; ``body`` is bytes or a re-iterable stream with ``__len__``."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any
    connect_timeout_s: float
    read_timeout_s: float
    max_response_bytes: int
    verify: bool | str
    params: dict[str, str] | None = None  # added to the URL's query string


@dataclass(frozen=True)
class HttpAnswer:
    """What came back: status, a bounded excerpt of the body and its JSON if small."""

    status: int
    reason: str
    excerpt: str
    json: Any
    retry_after: str | None
    location: str | None
    duration_ms: float


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: its path and query (tokens) are never printed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}"


def check_http_url(url: str) -> str:
    """Validate a channel's webhook URL without echoing it (it carries a token)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("webhook_url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("webhook_url must be an http:// or https:// URL with a host")
    return url


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be secret: the password and the query values."""
    parts = urlsplit(url)
    found = [value for _name, value in parse_qsl(parts.query, keep_blank_values=True)]
    return [*found, *([parts.password] if parts.password else [])]


def safe_url(url: str) -> str:
    """``url`` without user info, query string and fragment: fit for results and errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def post(
    session: Any,
    what: str,
    url: str,
    body: bytes,
    *,
    timeout_s: float,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    secrets: Sequence[str] = (),
) -> HttpAnswer:
    """POST a JSON ``body`` for a chat or alert channel and check the answer's status.

    Errors name ``{what} webhook at <origin>`` only: the URL's path and query hold the channel's
    token. ``secrets`` (and the URL's query values) are masked in the answer's excerpt.
    """
    req = HttpRequest(
        method="POST",
        url=url,
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
        body=body,
        connect_timeout_s=min(CONNECT_TIMEOUT_S, timeout_s),
        read_timeout_s=timeout_s,
        max_response_bytes=CHANNEL_RESPONSE_BYTES,
        verify=True,
        params=params,
    )
    where = f"{what} webhook at {origin(url)}"
    answer = send(session, req, [*secrets, *url_secrets(url)], where)
    check_status(answer, where, status_line=BRIEF_STATUS)
    return answer


def json_bytes(payload: Any) -> bytes:
    """``payload`` as the JSON bytes of a request body."""
    return json.dumps(payload, allow_nan=False).encode("utf-8")


def send(session: Any, req: HttpRequest, secrets: Sequence[str], where: str) -> HttpAnswer:
    """Make the request and read at most ``max_response_bytes`` of the answer (``secrets``
    masked in its excerpt); ``where`` names the endpoint in errors."""
    import requests

    started = time.monotonic()
    try:
        resp = session.request(
            req.method,
            req.url,
            headers=req.headers,
            params=req.params,
            data=req.body,
            timeout=(req.connect_timeout_s, req.read_timeout_s),
            allow_redirects=req.method == "GET",
            stream=True,
            verify=req.verify,
        )
        try:
            raw, truncated = _read_bounded(resp, req.max_response_bytes)
        finally:
            resp.close()
    except requests.RequestException as exc:
        # not chained: urllib3's messages quote the whole URL, query secrets included
        raise translate_error(exc, where, req) from None
    return _answer(resp, raw, truncated, secrets, started)


def _read_bounded(resp: Any, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(chunk_size=READ_CHUNK_BYTES):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _answer(
    resp: Any, raw: bytes, truncated: bool, secrets: Sequence[str], started: float
) -> HttpAnswer:
    excerpt = redact(raw.decode("utf-8", "replace"), secrets)
    parsed = None
    if not truncated and raw and "json" in resp.headers.get("Content-Type", "").lower():
        try:
            parsed = json.loads(excerpt)
        except ValueError:
            parsed = None
    return HttpAnswer(
        status=int(resp.status_code),
        reason=str(resp.reason or ""),
        excerpt=excerpt,
        json=parsed,
        retry_after=_header(resp, "Retry-After"),
        location=_header(resp, "Location"),
        duration_ms=round((time.monotonic() - started) * 1000, 1),
    )


def _header(resp: Any, name: str) -> str | None:
    value = resp.headers.get(name)
    if value is None:
        return None
    return "".join(ch for ch in str(value) if " " <= ch <= "~")[:100]


def check_status(
    answer: HttpAnswer,
    where: str,
    done_statuses: Sequence[int] = (),
    status_line: str = DETAILED_STATUS,
) -> None:
    """Raise the error an unsuccessful status means (``done_statuses`` count as success);
    ``status_line`` words it (:data:`DETAILED_STATUS` or :data:`BRIEF_STATUS`)."""
    status = answer.status
    if 200 <= status < 300 or status in done_statuses:
        return
    detail = status_line.format(where=where, status=status, reason=answer.reason).rstrip()
    if status in RETRYABLE_STATUSES or status >= 500:
        if answer.retry_after:
            detail += f" (Retry-After: {answer.retry_after})"
        raise RetryableError(_with_excerpt(detail, answer.excerpt))
    if 300 <= status < 400:
        target = safe_url(answer.location) if answer.location else "nowhere"
        raise PermanentError(f"{detail}: redirect to {target} not followed (fix the url)")
    raise PermanentError(_with_excerpt(detail, answer.excerpt))


def _with_excerpt(detail: str, excerpt: str) -> str:
    text = " ".join(excerpt.split())
    return f"{detail}: {text}" if text else detail


def translate_error(exc: Exception, where: str, req: HttpRequest) -> ActionError:
    """The filerelay error for a requests exception raised while doing ``where``."""
    from requests import exceptions as rex

    if isinstance(exc, ActionError):
        return exc
    reason = root_reason(exc)
    if isinstance(exc, rex.SSLError):
        return PermanentError(f"{where}: TLS failed: {reason}")
    if isinstance(exc, rex.ConnectTimeout):
        return RetryableError(f"{where}: no connection within {req.connect_timeout_s:g}s")
    if isinstance(exc, rex.ReadTimeout):
        return RetryableError(f"{where}: no response within {req.read_timeout_s:g}s")
    if isinstance(exc, rex.ConnectionError | rex.ChunkedEncodingError):
        if _never_connected(exc):
            return RetryableError(f"{where}: connection failed: cannot connect ({reason})")
        return RetryableError(f"{where}: connection failed: {reason}")
    if isinstance(exc, rex.TooManyRedirects):
        return PermanentError(f"{where}: too many redirects")
    return PermanentError(f"{where}: cannot send the request ({type(exc).__name__})")


def root_reason(exc: BaseException) -> str:
    """The innermost OS-level reason of a network error (``Connection refused``), else a class
    name: never the exception's text, which may quote the URL."""
    for item in _causes(exc):
        if isinstance(item, OSError) and item.strerror:
            return str(item.strerror)
    return type(exc).__name__


def _never_connected(exc: BaseException) -> bool:
    """Whether the connection itself could not be made (refused, unreachable, no such host)."""
    from urllib3.exceptions import NewConnectionError

    return any(isinstance(item, NewConnectionError) for item in _causes(exc))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (reason, cause, context, args), breadth first."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [getattr(item, "reason", None), item.__cause__, item.__context__, *item.args]
