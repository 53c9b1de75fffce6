"""The API on real parts: a watcher and a worker process, Redis, a moto S3 server, and the
API served by a real uvicorn over the same store — upload, pause/resume, retry, reprocess
and cancel (a running script is stopped by its lease renewal)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from filerelay.cli.serve import uvicorn_config, web_app
from filerelay.ops import tokens
from filerelay.ops.deployment import Deployment
from filerelay.settings import load_settings
from tests.conftest import S3_TEST_ENV, free_port, wait_for
from tests.e2e.harness import Relay, running
from tests.e2e.operator_helpers import private_queue
from tests.e2e.test_core_pipeline import objects

pytestmark = pytest.mark.slow

CONFIG = """\
connections:
  s3:
    type: s3
    endpoint_url: "{endpoint}"
    access_key_id: "${{AWS_ACCESS_KEY_ID}}"
    secret_access_key: "${{AWS_SECRET_ACCESS_KEY}}"
    path_style: true
sources:
  - name: drop
    path: "{drop}"
    silence: 300ms
  - name: slow
    path: "{slow}"
    silence: 300ms
routes:
  - name: upload
    when: {{source: drop}}
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{source}}/{{relpath}}"}}
  - name: crawl
    when: {{source: slow}}
    steps:
      - script: {{argv: ["sleep", "120"], pass_file_as_arg: false}}
"""


@pytest.fixture
def relay(tmp_path, redis_url, moto_endpoint, bucket, monkeypatch) -> Iterator[Relay]:
    for name in ("drop", "slow"):
        (tmp_path / name).mkdir()
    text = CONFIG.format(
        endpoint=moto_endpoint, drop=tmp_path / "drop", slow=tmp_path / "slow", bucket=bucket
    )
    env = {"FILERELAY_HEARTBEAT_S": "1", "FILERELAY_LEASE_S": "3", **private_queue()}
    relay = Relay(tmp_path, text, broker_url=redis_url, extra_env=env)
    for key, value in S3_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    with running(relay):
        yield relay


@pytest.fixture
def api(relay: Relay) -> Iterator[httpx.Client]:
    settings = load_settings(
        database_url=relay.db_url,
        broker_url=relay.broker_url,
        config=relay.config,
        state_dir=relay.root / "api-state",
        queue=relay.extra_env["FILERELAY_QUEUE"],
        api_port=free_port(),
    )
    dep = Deployment.open(settings)
    server = uvicorn.Server(uvicorn_config(web_app(settings, dep), settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 30, what="uvicorn")
    token = tokens.create(dep.control, "ops", tokens.Role.OPERATOR, None, "test").token
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{settings.api_port}/api/v1", headers=headers, timeout=30
        ) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)
        dep.close()


def _events(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return list(api.get("/events", params=params).json()["items"])


def test_upload_pause_retry_reprocess_and_cancel_through_the_api(
    relay: Relay, api: httpx.Client, s3_client, bucket
) -> None:
    # given a worker and a watcher
    relay.start_worker(concurrency=2)
    relay.start_watcher()

    # when a file is uploaded into the drop source / then it reaches the bucket
    got = api.post("/sources/drop/files", files={"file": ("a.bin", b"a" * 100)})
    assert got.status_code == 201, got.text
    wait_for(lambda: "drop/a.bin" in objects(s3_client, bucket), 60, what="a.bin uploaded")

    # when the source is paused and another file uploaded / then it is held, not processed
    assert api.post("/sources/drop/pause").json()["paused"] is True
    api.post("/sources/drop/files", files={"file": ("b.bin", b"b" * 100)})

    def held() -> bool:
        watchers = [a for a in api.get("/agents").json() if a["role"] == "watcher"]
        return any((a["details"] or {}).get("held", {}).get("drop") == 1 for a in watchers)

    wait_for(held, 30, what="b.bin held by the paused watcher")
    assert "drop/b.bin" not in objects(s3_client, bucket)
    # when it is resumed / then the held file goes through
    api.post("/sources/drop/resume")
    wait_for(lambda: "drop/b.bin" in objects(s3_client, bucket), 60, what="b.bin uploaded")

    # when a succeeded event is retried with force / then it runs again as a new event
    (first,) = _events(api, source="drop", path="a.bin")
    retried = api.post(f"/events/{first['id']}/retry", json={"force": True}).json()
    assert retried["queued"] == 1 and retried["renewed"][0]["from"] == first["id"]
    again = retried["renewed"][0]["to"]
    wait_for(lambda: api.get(f"/events/{again}").json()["state"] == "succeeded", 60, what="rerun")
    # and a bulk reprocess, dry, lists the matching events without queueing them
    dry = api.post(
        "/reprocess", json={"state": "succeeded", "source": "drop", "force": True, "dry_run": True}
    ).json()
    assert dry["dry_run"] is True and dry["queued"] == 3

    # when a file's script step is running and its pipeline is cancelled
    (relay.root / "slow" / "c.txt").write_text("c")

    def running_step() -> dict[str, Any] | None:
        for event in _events(api, source="slow"):
            shown = api.get(f"/events/{event['id']}").json()
            for pipeline in shown["pipelines"]:
                if any(s["status"] == "running" for s in pipeline["steps"]):
                    return dict(pipeline, event_id=event["id"])
        return None

    pipeline = wait_for(running_step, 60, what="the script running")
    cancelled = api.post(f"/pipelines/{pipeline['id']}/cancel").json()
    assert cancelled["running_steps"] == 1
    # then the event fails at once, and the script is stopped within a lease renewal
    shown = api.get(f"/events/{pipeline['event_id']}").json()
    assert shown["state"] == "failed" and "cancelled by ops" in shown["reason"]

    def stopped() -> bool:
        steps = api.get(f"/events/{pipeline['event_id']}").json()["pipelines"][0]["steps"]
        return steps[0]["status"] == "cancelled"

    wait_for(stopped, 30, what="the running script stopped")
