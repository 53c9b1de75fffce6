"""Builders of the alerting tests: configs with an ``alerts:`` section, events in chosen
states, an evaluator on a store, the Standard Webhooks check a receiver does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer

from filerelay.actions.registry import default_registry
from filerelay.alerting.evaluator import Evaluator
from filerelay.alerting.repo import AlertStore
from filerelay.alerting.service import build_evaluator
from filerelay.config import ActionCatalog, LoadedConfig, load_config
from filerelay.model import FileEvent
from filerelay.settings import load_settings
from filerelay.store import Store
from tests.store.store_helpers import make_event, record

SECRET_KEY = b"alert-signing-key-0123"
SECRET = "whsec_" + base64.b64encode(SECRET_KEY).decode()
SENDER = "filerelay <bot@relay.example>"


def write_config(
    root: Path,
    alerts: str,
    *,
    smtp_port: int | None = None,
    sources: str = "cam",
) -> Path:
    """A pipeline config under ``root`` whose ``alerts:`` section is ``alerts`` (YAML text,
    indented under ``alerts:``)."""
    inbox = root / "in"
    inbox.mkdir(exist_ok=True)
    conn = ""
    if smtp_port is not None:
        conn = (
            "connections:\n"
            f"  mail: {{type: smtp, host: 127.0.0.1, port: {smtp_port}, "
            f'sender: "{SENDER}", timeout: 5}}\n'
        )
    srcs = "".join(f'  - {{name: {n}, path: "{inbox}"}}\n' for n in sources.split(","))
    text = (
        f"{conn}sources:\n{srcs}routes:\n  - name: r\n    steps:\n"
        f'      - copy: {{to: "{root}/out/{{relpath}}"}}\n'
        f"alerts:\n{alerts}"
    )
    path = root / "pipeline.yaml"
    path.write_text(text)
    return path


def load(path: Path) -> LoadedConfig:
    return load_config(path, ActionCatalog.from_registry(default_registry()), check_paths=False)


def evaluator(path: Path, alert_store: AlertStore, **settings: Any) -> Evaluator:
    """An evaluator for the config at ``path`` on ``alert_store``."""
    loaded = load(path)
    return build_evaluator(load_settings(config=path, **settings), loaded, alert_store)


def finished(store: Store, state: str, source: str = "cam", **fields: Any) -> FileEvent:
    """A recorded event moved to ``state`` (failed, succeeded or left queued)."""
    event = make_event(source=source, **fields)
    record(store, event)
    if state == "failed":
        store.set_event_state(event.event_id, "failed", "boom")
    elif state == "succeeded":
        store.set_event_state(event.event_id, "processing")
        store.set_event_state(event.event_id, "succeeded")
    return event


def posts(server: HTTPServer, path: str) -> list[dict[str, Any]]:
    """The JSON bodies POSTed to ``path``, in order."""
    return [json.loads(req.get_data()) for req, _ in server.log if req.path == path]


def verify_signature(headers: Any, body: bytes, key: bytes = SECRET_KEY) -> bool:
    """What a Standard Webhooks receiver checks."""
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return f"v1,{expected}" in headers["webhook-signature"].split()
