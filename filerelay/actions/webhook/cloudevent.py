"""The message ``webhook`` and ``publish`` send about a file: a CloudEvents 1.0 event.

Structured JSON mode (``format: cloudevents``, content type ``application/cloudevents+json``)::

    {"specversion": "1.0", "id": "<idempotency key>", "source": "filerelay://<host>/<source>",
     "type": "io.filerelay.file.stable", "time": "2024-03-05T06:07:08Z", "subject": "<relpath>",
     "datacontenttype": "application/json",
     "data": {"source": ..., "path": ..., "relpath": ..., "name": ..., "size": ..., "mtime": ...,
              "sha256": ... | null, "tags": {...}, "dedup_key": ..., "event_id": ...,
              "stable_signal": ..., "host": ..., "route": ..., "steps": {<earlier results>}}}

``format: raw`` sends only the ``data`` object (``application/json``).

The message is the same bytes on every retry of a step: ``id`` is the step's idempotency key and
``time`` is when the file was detected, not when the message was sent. File names that are not
valid UTF-8 (surrogate-escaped ``str``) are encoded as escaped text (``caf\\xe9.txt``), so the
JSON is always valid UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import AfterValidator, Field, WithJsonSchema

from filerelay import fsnames
from filerelay.actions.base import ActionContext
from filerelay.model import JSONDict
from filerelay.templates import Template

SPEC_VERSION = "1.0"
DEFAULT_EVENT_TYPE = "io.filerelay.file.stable"
RETRACTED_EVENT_TYPE = "io.filerelay.file.retracted"
CLOUDEVENTS_JSON = "application/cloudevents+json"
PLAIN_JSON = "application/json"
EVENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
# AMQP's message-id is a shortstr (<= 255 bytes); HTTP and NATS headers want printable ASCII.
MAX_WIRE_ID_CHARS = 200

MessageFormat = Literal["cloudevents", "raw"]


def format_field() -> Any:
    """The ``format`` config field of ``webhook`` and ``publish`` (a new FieldInfo each call)."""
    return Field(
        default="cloudevents",
        description="'cloudevents': a CloudEvents 1.0 event in structured JSON mode; "
        "'raw': only its data object (file metadata and earlier steps' results) as JSON.",
    )


def event_type_field(default: str = DEFAULT_EVENT_TYPE, what: str = "") -> Any:
    """An ``event_type`` config field: the CloudEvents ``type`` of a message."""
    return Field(
        default=default,
        pattern=EVENT_TYPE_PATTERN,
        max_length=200,
        description=f"The CloudEvents 'type' attribute{what}.",
        examples=[default],
    )


@dataclass(frozen=True)
class Message:
    """An encoded message: its id, JSON document, body bytes and content type."""

    id: str
    document: JSONDict
    body: bytes
    content_type: str


def wire_id(idempotency_key: str) -> str:
    """The id sent on the wire for a step: its idempotency key when that is printable ASCII of
    at most :data:`MAX_WIRE_ID_CHARS` characters, else ``sha256:<hex of the key>``.

    Deterministic, so every retry sends the same id; safe in HTTP and NATS headers and in
    AMQP's 255-byte ``message_id``.
    """
    if len(idempotency_key) <= MAX_WIRE_ID_CHARS and all(
        " " <= ch <= "~" for ch in idempotency_key
    ):
        return idempotency_key
    raw = idempotency_key.encode("utf-8", "surrogateescape")
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def build_message(
    ctx: ActionContext,
    *,
    fmt: MessageFormat,
    event_type: str,
    id_suffix: str = "",
    extra_data: Mapping[str, Any] | None = None,
) -> Message:
    """The message of ``ctx``'s step (``id_suffix`` derives a second stable id, e.g. for a
    retraction; ``extra_data`` adds keys to ``data``)."""
    message_id = wire_id(ctx.idempotency_key + id_suffix)
    data = {**file_data(ctx), **(extra_data or {})}
    if fmt == "raw":
        return Message(message_id, data, to_json_bytes(data), PLAIN_JSON)
    document = cloud_event(ctx, message_id, event_type, data)
    return Message(message_id, document, to_json_bytes(document), CLOUDEVENTS_JSON)


def cloud_event(ctx: ActionContext, message_id: str, event_type: str, data: JSONDict) -> JSONDict:
    """The CloudEvents 1.0 envelope around ``data``."""
    ev = ctx.event
    return {
        "specversion": SPEC_VERSION,
        "id": message_id,
        "source": event_source(ev.host, ev.source),
        "type": event_type,
        "time": rfc3339(ev.detected_at),
        "subject": clean_text(ev.relpath),
        "datacontenttype": PLAIN_JSON,
        "data": data,
    }


def event_source(host: str, source: str) -> str:
    """``filerelay://<host>/<source>`` (a URI reference, percent-encoded)."""
    return f"filerelay://{quote(host or 'localhost', safe='')}/{quote(source, safe='')}"


def file_data(ctx: ActionContext) -> JSONDict:
    """The file's metadata plus the earlier steps' results: the event's ``data``."""
    ev = ctx.event
    values = ctx.template_values()  # sha256 only when known: never hashes the file here
    return {
        "source": ev.source,
        "path": ev.path,
        "relpath": ev.relpath,
        "name": values["name"],
        "size": ev.size,
        "mtime": rfc3339(ev.mtime_ns / 1e9),
        "sha256": values["sha256"] or None,
        "tags": dict(ev.tags),
        "dedup_key": ev.dedup_key,
        "event_id": ev.event_id,
        "stable_signal": str(ev.stable_signal),
        "host": ev.host,
        "route": ctx.route,
        "steps": {name: dict(result) for name, result in ctx.results.items()},
    }


def rfc3339(unix_s: float) -> str:
    """RFC 3339 UTC time, ``Z``-suffixed, with microseconds only when there are some."""
    moment = datetime.fromtimestamp(unix_s, UTC)
    spec = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return moment.strftime(spec)


def to_json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value``; never fails on surrogate-escaped text or NaN."""
    return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def jsonable(value: Any) -> Any:
    """``value`` with every string made valid Unicode and every container a list or dict."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return clean_text(str(value))


def clean_text(text: str) -> str:
    """``text`` as valid Unicode: bytes smuggled in as surrogates (non-UTF-8 file names) become
    ``\\xNN`` escapes, any other lone surrogate a ``\\udNNN`` escape
    (:func:`filerelay.fsnames.readable`)."""
    return fsnames.readable(text)


# --- custom JSON bodies ------------------------------------------------------------------


def _check_json_template(value: Any, where: str = "body") -> Any:
    if isinstance(value, str):
        Template.parse(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: keys must be strings")
            _check_json_template(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_template(item, f"{where}[{index}]")
    elif not (value is None or isinstance(value, bool | int | float)):
        raise ValueError(f"{where}: {type(value).__name__} is not JSON")
    return value


JsonTemplate = Annotated[
    dict[str, Any],
    AfterValidator(_check_json_template),
    WithJsonSchema({"type": "object", "additionalProperties": True}),
]
"""A JSON object whose string values (at any depth) are templates; keys are literal."""


def render_json_template(ctx: ActionContext, value: Any) -> Any:
    """Render every string in ``value`` as a template for ``ctx``'s file."""
    if isinstance(value, str):
        return ctx.render(value)
    if isinstance(value, Mapping):
        return {key: render_json_template(ctx, item) for key, item in value.items()}
    if isinstance(value, list):
        return [render_json_template(ctx, item) for item in value]
    return value


def custom_message(ctx: ActionContext, template: Mapping[str, Any], id_suffix: str = "") -> Message:
    """A message whose document is ``template`` rendered for ``ctx`` (sent as plain JSON)."""
    document = render_json_template(ctx, template)
    message_id = wire_id(ctx.idempotency_key + id_suffix)
    return Message(message_id, document, to_json_bytes(document), PLAIN_JSON)
