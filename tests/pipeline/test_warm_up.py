"""A worker process prepares its steps before its first task: the S3 client of a route's
upload exists before any file arrives, and a step that cannot be prepared is only logged."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict

from filerelay.actions.base import Action
from filerelay.actions.registry import BUILTIN_ACTIONS, Registry
from filerelay.pipeline.runtime import build_runtime
from filerelay.settings import load_settings
from tests.conftest import migrated_sqlite


class _BrokenConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BrokenPrepare(Action[_BrokenConfig]):
    name = "broken"
    Config = _BrokenConfig

    def prepare(self) -> None:
        raise RuntimeError("service down at start")


def test_warm_up_builds_the_upload_client_and_logs_a_step_it_cannot_prepare(
    tmp_path: Any, moto_endpoint: str
) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    cfg = tmp_path / "rules.yaml"
    cfg.write_text(
        "connections:\n"
        "  store:\n"
        f"    {{type: s3, endpoint_url: '{moto_endpoint}', access_key_id: testing,\n"
        "     secret_access_key: testing, path_style: true}\n"
        f'sources:\n  - {{name: in, path: "{inbox}"}}\n'
        "routes:\n"
        "  - name: up\n    steps:\n      - s3: {connection: store, bucket: bkt}\n"
        "  - name: odd\n    steps:\n      - broken: {}\n"
    )
    settings = load_settings(
        config=cfg, state_dir=tmp_path / "state", database_url=migrated_sqlite(tmp_path / "s.db")
    )
    registry = Registry({**BUILTIN_ACTIONS, "broken": BrokenPrepare})
    runtime = build_runtime(settings, registry)
    clients = runtime.rules.resources.clients
    assert ("s3", "store") not in clients._clients  # nothing built before the warm-up
    with structlog.testing.capture_logs() as logs:
        prepared = runtime.warm_up()
    assert prepared == 1
    assert ("s3", "store") in clients._clients
    [failed] = [e for e in logs if e["event"] == "warm_up_failed"]
    assert failed["action"] == "broken" and "service down" in failed["error"]
