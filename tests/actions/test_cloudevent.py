"""The shared event message: CloudEvents 1.0 structured JSON, read back with the cloudevents SDK."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from filerelay.actions.webhook.cloudevent import (
    CLOUDEVENTS_JSON,
    DEFAULT_EVENT_TYPE,
    PLAIN_JSON,
    JsonTemplate,
    build_message,
    custom_message,
    rfc3339,
    to_json_bytes,
    wire_id,
)
from filerelay.errors import PermanentError
from tests.actions.helpers import DETECTED_AT, make_context, make_event, write_file


def parse_cloudevent(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """Decode a structured-mode CloudEvent with the cloudevents SDK (1.x or 2.x API) into
    ``{attribute: value, ..., "data": data}``; the SDK validates the required attributes."""
    try:
        from cloudevents.http import from_http  # cloudevents 1.x
    except ImportError:  # cloudevents 2.x moved the HTTP binding
        from cloudevents.core.bindings.http import HTTPMessage, from_http_event

        event: Any = from_http_event(HTTPMessage(headers=dict(headers), body=body))
    else:
        event = from_http(dict(headers), body)
    attributes = dict(event.get_attributes())
    time = attributes.get("time")
    if time is not None and not isinstance(time, str):
        attributes["time"] = rfc3339(time.timestamp())
    return {**attributes, "data": event.get_data()}


def cloudevent_headers() -> dict[str, str]:
    return {"content-type": CLOUDEVENTS_JSON}


def test_event_is_a_cloudevent_with_file_metadata_and_earlier_results(
    src: Path,
) -> None:
    # given a file seen by host 'test-host' in source 'cam', and an earlier step's result
    path = write_file(src / "sub" / "a.jpg", b"jpeg bytes")
    event = make_event(path, src, source="cam", tags={"team": "vision"}, sha256="ab" * 32)
    ctx = make_context(event, route="video", step="1-webhook")
    ctx.results = {"upload": {"key": "cam/sub/a.jpg", "etag": "e1"}}
    # when the message is built
    message = build_message(ctx, fmt="cloudevents", event_type="com.example.ready")
    # then the SDK reads a CloudEvent whose id is the idempotency key
    parsed = parse_cloudevent(cloudevent_headers(), message.body)
    assert message.content_type == CLOUDEVENTS_JSON
    assert message.id == ctx.idempotency_key
    assert parsed["specversion"] == "1.0"
    assert parsed["id"] == ctx.idempotency_key
    assert parsed["source"] == "filerelay://test-host/cam"
    assert parsed["type"] == "com.example.ready"
    assert parsed["subject"] == "sub/a.jpg"
    assert parsed["time"] == "2024-03-05T06:07:08Z"
    assert parsed["datacontenttype"] == "application/json"
    st = os.stat(path)
    assert parsed["data"] == {
        "source": "cam",
        "path": str(path),
        "relpath": "sub/a.jpg",
        "name": "a.jpg",
        "size": 10,
        "mtime": rfc3339(st.st_mtime_ns / 1e9),
        "sha256": "ab" * 32,
        "tags": {"team": "vision"},
        "dedup_key": event.dedup_key,
        "event_id": event.event_id,
        "stable_signal": "silence",
        "host": "test-host",
        "route": "video",
        "steps": {"upload": {"key": "cam/sub/a.jpg", "etag": "e1"}},
    }


def test_message_bytes_are_the_same_on_every_attempt(src: Path) -> None:
    # given two attempts of the same step
    event = make_event(write_file(src / "a.txt", b"x"), src)
    first, second = make_context(event, attempt=1), make_context(event, attempt=2)
    # when each builds its message
    one = build_message(first, fmt="cloudevents", event_type=DEFAULT_EVENT_TYPE)
    two = build_message(second, fmt="cloudevents", event_type=DEFAULT_EVENT_TYPE)
    # then the bytes are identical (same id, time = detection time, not send time)
    assert one.body == two.body
    assert json.loads(one.body)["time"] == rfc3339(DETECTED_AT)


def test_unknown_sha256_is_null_and_not_computed(src: Path) -> None:
    event = make_event(write_file(src / "a.txt", b"x"), src)
    ctx = make_context(event)
    data = json.loads(build_message(ctx, fmt="raw", event_type=DEFAULT_EVENT_TYPE).body)
    assert data["sha256"] is None
    assert ctx._sha256 is None  # building a message never hashes the file


def test_raw_format_sends_only_the_data_object(src: Path) -> None:
    event = make_event(write_file(src / "a.txt", b"x"), src)
    message = build_message(make_context(event), fmt="raw", event_type=DEFAULT_EVENT_TYPE)
    data = json.loads(message.body)
    assert message.content_type == PLAIN_JSON
    assert "specversion" not in data
    assert data["relpath"] == "a.txt"
    assert data["steps"] == {}


def test_non_utf8_file_name_becomes_escaped_text(tmp_path: Path) -> None:
    # given a file whose name is not valid UTF-8 (Python hands it over surrogate-escaped)
    root = tmp_path / "src"
    root.mkdir()
    raw_name = b"caf\xe9 \xff.txt"
    with open(os.path.join(os.fsencode(root), raw_name), "wb") as fh:
        fh.write(b"x")
    name = os.fsdecode(raw_name)
    event = make_event(root / name, root)
    # when its event is built and parsed by the SDK
    message = build_message(make_context(event), fmt="cloudevents", event_type=DEFAULT_EVENT_TYPE)
    parsed = parse_cloudevent(cloudevent_headers(), message.body)
    # then the body is valid UTF-8 and the name is readable escaped text
    message.body.decode("utf-8")
    assert parsed["subject"] == "caf\\xe9 \\xff.txt"
    assert parsed["data"]["name"] == "caf\\xe9 \\xff.txt"
    # and the id (derived from a key holding the name) is header-safe and stable
    assert message.id.startswith("sha256:")
    assert message.id == wire_id(make_context(event).idempotency_key)


@pytest.mark.parametrize(
    ("key", "verbatim"),
    [
        ("path:src:a b.txt:1:2:3:r:0-step", True),
        ("path:src:é.txt:1:2:3:r:0-step", False),
        ("path:src:" + "x" * 300 + ":r:s", False),
        ("path:src:a\nb:1:2:3:r:0-step", False),
    ],
)
def test_wire_id_keeps_safe_keys_and_hashes_others(key: str, verbatim: bool) -> None:
    got = wire_id(key)
    assert (got == key) is verbatim
    assert len(got) <= 200 and all(" " <= ch <= "~" for ch in got)
    assert wire_id(key) == got


def test_json_encoding_never_fails() -> None:
    value = {"bad\udcff": ["\ud800", float("nan"), 1.5, (1, 2)], "ok": object.__name__}
    decoded = json.loads(to_json_bytes(value).decode("utf-8"))
    assert decoded == {"bad\\xff": ["\\ud800", "nan", 1.5, [1, 2]], "ok": "object"}


class _BodyModel(BaseModel):
    body: JsonTemplate


def test_custom_body_renders_templates_at_any_depth(src: Path) -> None:
    # given a body template that refers to an earlier step's result
    cfg = _BodyModel(body={"key": "{steps.upload.key}", "n": 1, "x": [{"f": "{name}"}, None]})
    ctx = make_context(make_event(write_file(src / "a.txt", b"x"), src))
    ctx.results = {"upload": {"key": "k/a.txt"}}
    # when it is rendered
    message = custom_message(ctx, cfg.body)
    # then strings are rendered, other JSON values kept
    assert json.loads(message.body) == {"key": "k/a.txt", "n": 1, "x": [{"f": "a.txt"}, None]}
    assert message.content_type == PLAIN_JSON
    assert message.id == ctx.idempotency_key


def test_custom_body_with_a_missing_value_is_a_permanent_error(src: Path) -> None:
    ctx = make_context(make_event(write_file(src / "a.txt", b"x"), src))
    with pytest.raises(PermanentError, match=r"steps\.upload\.key"):
        custom_message(ctx, {"key": "{steps.upload.key}"})


@pytest.mark.parametrize("body", [{"k": "{nope}"}, {"k": ["{x[0]}"]}, {"k": {"deep": "{a.b}"}}])
def test_bad_body_templates_are_rejected_at_load(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _BodyModel(body=body)
