"""The ``webhook`` action: send the file's CloudEvent (or a custom JSON body) to an HTTP endpoint.

Signed per Standard Webhooks 1.0 (:mod:`filerelay.channels.signing`); ``webhook-id`` and
``Idempotency-Key`` are the step's idempotency key, identical on every retry, so the receiver
can drop duplicates. With ``upload_file`` the body is ``multipart/form-data``: the JSON message
as part ``event`` and the file, streamed, as part ``file``. ``GET`` and ``DELETE`` send no body
(the signature then covers the empty body). Status and error mapping:
:mod:`filerelay.channels.http`.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from filerelay.actions.base import Action, ActionContext, Resources
from filerelay.actions.webhook.cloudevent import (
    RETRACTED_EVENT_TYPE,
    JsonTemplate,
    Message,
    MessageFormat,
    build_message,
    clean_text,
    custom_message,
    event_type_field,
    format_field,
    wire_id,
)
from filerelay.actions.webhook.multipart import MultipartBody
from filerelay.channels.http import (
    USER_AGENT,
    HttpAnswer,
    HttpRequest,
    check_status,
    new_session,
    safe_url,
    send,
    url_secrets,
)
from filerelay.channels.signing import decode_secret, signature_headers
from filerelay.config.types import DurationS, SizeBytes, TemplateStr
from filerelay.errors import PermanentError
from filerelay.model import JSONDict
from filerelay.templates import url_value

Method = Literal["POST", "PUT", "PATCH", "GET", "DELETE"]
BODYLESS_METHODS = frozenset({"GET", "DELETE"})
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "transfer-encoding",
        "host",
        "idempotency-key",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
COMPENSATE_SUFFIX = ":compensate"
DONE_ON_COMPENSATE = (404, 410)  # what the undo would remove is not there: nothing to undo
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _http_url(value: str) -> str:
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError("the url must start with http:// or https://")
    return value


UrlTemplate = Annotated[TemplateStr, AfterValidator(_http_url)]
Payload = Message | MultipartBody | None


class WebhookCompensation(BaseModel):
    """The call ``compensate()`` makes when a later step fails for good."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: UrlTemplate = Field(description="URL template of the compensating call.")
    method: Method = Field(default="POST", description="HTTP method.")
    format: MessageFormat = format_field()
    body: JsonTemplate | None = Field(
        default=None,
        description="Custom JSON body (string values are templates); default: the event "
        "message with type 'event_type' and data.retracts = the original webhook_id. "
        "GET and DELETE send no body.",
    )
    event_type: str = event_type_field(RETRACTED_EVENT_TYPE, " of the compensating message")


class WebhookConfig(BaseModel):
    """Call an HTTP endpoint with the file's event, signed per Standard Webhooks."""

    # a rejected secret must not be echoed by str(ValidationError)
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: UrlTemplate = Field(
        description="URL template; http:// or https://. Values inserted in its path or "
        "query are percent-encoded whole ('/' too: {relpath} 'a/b c' becomes 'a%2Fb%20c'). Its "
        "query string never appears in results or errors.",
        examples=["https://hooks.example/ingest", "https://api.example/files/{source}"],
    )
    method: Method = Field(default="POST", description="HTTP method; GET and DELETE send no body.")
    headers: dict[str, TemplateStr] = Field(
        default={},
        description="Extra headers; values are templates and may hold ${ENV} secrets (never "
        "logged). Content-Type, Idempotency-Key and webhook-* are set by filerelay.",
    )
    secret: SecretStr | list[SecretStr] | None = Field(
        default=None,
        description="Signing secret: 'whsec_<base64>' (Standard Webhooks) or a plain string; "
        "a list signs with each (secret rotation). Unset: no webhook-signature header.",
    )
    format: MessageFormat = format_field()
    event_type: str = event_type_field()
    body: JsonTemplate | None = Field(
        default=None,
        description="Custom JSON body instead of the event message; string values at any "
        'depth are templates, e.g. {"key": "{steps.upload.key}"}.',
    )
    upload_file: bool = Field(
        default=False,
        description="Send multipart/form-data: the JSON as part 'event', the file (streamed) "
        "as part 'file'.",
    )
    connect_timeout: DurationS = Field(default=5.0, gt=0, description="Connect timeout.")
    read_timeout: DurationS = Field(
        default=30.0, gt=0, description="Longest wait for response bytes."
    )
    max_response_bytes: SizeBytes = Field(
        default=4096,
        ge=0,
        le=1024 * 1024,
        description="Response bytes kept: the excerpt in results and errors; JSON responses "
        "up to this size are parsed into the result.",
    )
    verify_tls: bool | str = Field(
        default=True, description="Verify the server's TLS certificate; or a CA bundle path."
    )
    compensate: WebhookCompensation | None = Field(
        default=None, description="A compensating call made when a later step fails for good."
    )

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _TOKEN.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP token")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by filerelay itself")
        return value

    @field_validator("secret")
    @classmethod
    def _secrets(cls, value: SecretStr | list[SecretStr] | None) -> Any:
        items = value if isinstance(value, list) else [value] if value else []
        if isinstance(value, list) and not value:
            raise ValueError("give at least one secret, or leave 'secret' out")
        for item in items:
            decode_secret(item.get_secret_value())
        return value

    @model_validator(mode="after")
    def _body_for_method(self) -> WebhookConfig:
        if self.method in BODYLESS_METHODS and (self.body is not None or self.upload_file):
            raise ValueError(f"{self.method} sends no body: drop 'body' and 'upload_file'")
        return self

    def _secret_items(self) -> list[SecretStr]:
        if isinstance(self.secret, list):
            return self.secret
        return [self.secret] if self.secret else []

    def signing_keys(self) -> list[bytes]:
        """The HMAC keys of the configured secrets, in order."""
        return [decode_secret(item.get_secret_value()) for item in self._secret_items()]

    def secret_values(self) -> list[str]:
        """The configured secrets in clear (only to redact them from what we report)."""
        return [item.get_secret_value() for item in self._secret_items()]


class WebhookAction(Action[WebhookConfig]):
    """Calls the webhook; ``compensate`` makes the configured compensating call.

    Result: ``{status, url, response_excerpt, response_json, duration_ms, webhook_id}``
    (``url`` without user info or query string).
    """

    name = "webhook"
    reads_file = False  # unless it uploads the file (touches_file)
    Config = WebhookConfig
    connection_type: ClassVar[str | None] = None

    @classmethod
    def touches_file(cls, config: Any) -> bool:
        """A webhook that uploads the file (``upload_file``) needs the file's host; one that
        sends metadata only runs anywhere."""
        return bool(getattr(config, "upload_file", False)) or super().touches_file(config)

    def run(self, ctx: ActionContext) -> JSONDict:
        cfg = self.config
        url = _render_url(ctx, cfg.url)
        payload: Payload = None
        msg_id = wire_id(ctx.idempotency_key)
        with contextlib.ExitStack() as stack:
            if cfg.method not in BODYLESS_METHODS:
                payload = self._message(ctx)
                if cfg.upload_file:  # never through a link, and the very file detected
                    source = stack.enter_context(ctx.open_source())
                    payload = MultipartBody(
                        payload.id, payload.body, payload.content_type, source, ctx.event.size
                    )
            answer, where = self._call(ctx, cfg.method, url, msg_id, payload)
        check_status(answer, where)
        return {
            "status": answer.status,
            "url": safe_url(url),
            "response_excerpt": answer.excerpt,
            "response_json": answer.json,
            "duration_ms": answer.duration_ms,
            "webhook_id": msg_id,
        }

    def _message(self, ctx: ActionContext) -> Message:
        cfg = self.config
        if cfg.body is not None:
            return custom_message(ctx, cfg.body)
        return build_message(ctx, fmt=cfg.format, event_type=cfg.event_type)

    def _call(
        self, ctx: ActionContext, method: str, url: str, msg_id: str, payload: Payload
    ) -> tuple[HttpAnswer, str]:
        """Sign and send one request; returns the answer and a ``METHOD url`` label."""
        cfg = self.config
        custom = {name: ctx.render(value, f"header {name}") for name, value in cfg.headers.items()}
        body = payload.body if isinstance(payload, Message) else payload
        headers = {**custom, **self._fixed_headers(msg_id, payload)}
        secrets = [*custom.values(), *cfg.secret_values(), *url_secrets(url)]
        req = HttpRequest(
            method=method,
            url=url,
            headers=_checked_headers(headers),
            body=body,
            connect_timeout_s=min(cfg.connect_timeout, ctx.timeout_s),
            read_timeout_s=min(cfg.read_timeout, ctx.timeout_s),
            max_response_bytes=cfg.max_response_bytes,
            verify=cfg.verify_tls,
        )
        where = f"{method} {safe_url(url)}"
        answer = send(http_session(self.resources, cfg.verify_tls), req, secrets, where)
        ctx.log.debug("webhook_answered", status=answer.status, duration_ms=answer.duration_ms)
        return answer, where

    def _fixed_headers(self, msg_id: str, payload: Payload) -> dict[str, str]:
        """Signature, idempotency, content type and user agent headers."""
        chunks: Iterable[bytes] = ()
        if isinstance(payload, Message):
            chunks = (payload.body,)
        elif payload is not None:
            chunks = payload  # the file is read once to sign, once more to send
        headers = signature_headers(self.config.signing_keys(), msg_id, int(time.time()), chunks)
        headers["Idempotency-Key"] = msg_id
        if payload is not None:
            headers["Content-Type"] = payload.content_type
        if not any(name.lower() == "user-agent" for name in self.config.headers):
            headers["User-Agent"] = USER_AGENT
        return headers

    def compensate(self, ctx: ActionContext, result: JSONDict) -> None:
        """Make the compensating call, if one is configured (404 and 410 count as done)."""
        comp = self.config.compensate
        if comp is None:
            return
        url = _render_url(ctx, comp.url)
        payload: Payload = None
        if comp.method not in BODYLESS_METHODS and comp.body is not None:
            payload = custom_message(ctx, comp.body, COMPENSATE_SUFFIX)
        elif comp.method not in BODYLESS_METHODS:
            payload = build_message(
                ctx,
                fmt=comp.format,
                event_type=comp.event_type,
                id_suffix=COMPENSATE_SUFFIX,
                extra_data={"retracts": result.get("webhook_id")},
            )
        msg_id = wire_id(ctx.idempotency_key + COMPENSATE_SUFFIX)
        answer, where = self._call(ctx, comp.method, url, msg_id, payload)
        check_status(answer, where, done_statuses=DONE_ON_COMPENSATE)


def http_session(resources: Resources, verify: bool | str) -> Any:
    """The process-wide HTTP session for this TLS verification setting."""
    return resources.clients.get(("http", verify), lambda: new_session(verify))


def _render_url(ctx: ActionContext, template: str) -> str:
    url = ctx.render(template, "url", url_value)
    if clean_text(url) != url:
        raise PermanentError("rendered url holds bytes that are not UTF-8 (from a file name?)")
    return url


def _checked_headers(headers: dict[str, str]) -> dict[str, str]:
    """Refuse header values HTTP cannot carry (naming the header, never the value)."""
    for name, value in headers.items():
        if "\r" in value or "\n" in value or not all(ord(ch) < 256 for ch in value):
            raise PermanentError(f"header {name}: the rendered value cannot be sent in HTTP")
    return headers
