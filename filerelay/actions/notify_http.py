"""HTTP for the webhook channels of ``notify``: one pooled ``requests.Session`` per process,
a POST with a deadline, and the translation of failures into filerelay errors.

The webhook URL holds the channel's token, so no message here ever contains it: errors name
the URL's origin only, and requests' own exceptions (whose text holds the full URL) are not
chained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from filerelay.actions.base import ActionContext
from filerelay.actions.notify_common import origin
from filerelay.errors import ActionError, PermanentError, RetryableError

if TYPE_CHECKING:
    import requests

SESSION_KEY = ("notify", "requests.Session")
CONNECT_TIMEOUT_S = 10.0
RETRYABLE_STATUS = frozenset({408, 425, 429})
BODY_SNIPPET_CHARS = 200


def new_session() -> requests.Session:
    """A session (connection pool) for the notify channels."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = "filerelay-notify"
    return session


def session(ctx: ActionContext) -> requests.Session:
    """The process-wide session (connection pool) of the notify channels."""
    return ctx.resources.clients.get(SESSION_KEY, new_session)  # type: ignore[no-any-return]


def post_json(
    ctx: ActionContext,
    what: str,
    url: str,
    payload: dict[str, Any],
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """POST ``payload`` as JSON; connection failures and timeouts are retryable."""
    return post(
        session(ctx), ctx.timeout_s, what, url, payload=payload, params=params, headers=headers
    )


def post(
    http: requests.Session,
    timeout_s: float,
    what: str,
    url: str,
    *,
    payload: dict[str, Any] | None = None,
    data: bytes | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """POST ``payload`` as JSON (or ``data`` as is) on ``http`` — also outside a step (alert
    channels); connection failures and timeouts are retryable."""
    import requests

    timeout = (min(CONNECT_TIMEOUT_S, timeout_s), timeout_s)
    try:
        return http.post(
            url,
            json=payload,
            data=data,
            params=params,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        # Not chained: the exception's text holds the full URL with its token.
        raise request_error(exc, what, url) from None


def request_error(exc: Exception, what: str, url: str) -> ActionError:
    """The filerelay error for a requests exception, naming only the URL's origin."""
    import requests

    where = f"{what} webhook at {origin(url)}"
    if isinstance(exc, requests.Timeout):
        return RetryableError(f"{where}: timed out ({type(exc).__name__})")
    if isinstance(exc, requests.ConnectionError):
        return RetryableError(f"{where}: cannot connect ({type(exc).__name__})")
    return PermanentError(f"{where}: request failed ({type(exc).__name__})")


def check_status(response: requests.Response, what: str, url: str) -> None:
    """2xx passes; 408, 425, 429 and 5xx are retryable; any other status is permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = " ".join(response.text.split())[:BODY_SNIPPET_CHARS]
    message = f"{what} webhook at {origin(url)} answered HTTP {status}" + (
        f": {body}" if body else ""
    )
    if status in RETRYABLE_STATUS or status >= 500:
        raise RetryableError(message)
    raise PermanentError(message)
