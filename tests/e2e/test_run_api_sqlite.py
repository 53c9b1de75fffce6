"""`filerelay run` on the embedded default (SQLite store) serving its API in-process, with
other processes using the same store: its API reads what the worker wrote, a pause made
through it holds a new file, and the watcher's heartbeat stays fresh."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, wait_for
from tests.e2e.harness import Proc, clean_env, run_filerelay

pytestmark = pytest.mark.slow

CONFIG = """\
sources:
  - name: inbox
    path: ./inbox
    silence: 0.3s
routes:
  - name: copy
    steps:
      - copy: {to: "./outbox/{relpath}"}
"""


def _watcher(api: httpx.Client) -> dict[str, Any]:
    rows = [a for a in api.get("/api/v1/agents").json() if a["role"] == "watcher"]
    assert len(rows) == 1, rows
    row: dict[str, Any] = rows[0]
    return row


def _fresh(row: dict[str, Any], within_s: float) -> bool:
    beat = datetime.fromisoformat(row["last_heartbeat_at"].replace("Z", "+00:00"))
    return (datetime.now(UTC) - beat).total_seconds() < within_s and row["state"] == "online"


def test_run_serves_its_store_beside_other_processes(tmp_path: Path) -> None:
    # Given `filerelay run` on the embedded default, serving its API, heartbeats every second
    (tmp_path / "p.yaml").write_text(CONFIG)
    (tmp_path / "inbox").mkdir()
    port = free_port()
    env = clean_env(
        FILERELAY_API_SERVE="true", FILERELAY_API_PORT=str(port), FILERELAY_HEARTBEAT_S="1"
    )
    argv = [sys.executable, "-m", "filerelay", "run", "--config", str(tmp_path / "p.yaml")]
    run = Proc("run", argv, env, tmp_path, tmp_path / "run.log").start()
    try:
        run.wait_log("watcher_ready", 90)
        token_file = tmp_path / ".filerelay" / "api-token"
        wait_for(token_file.exists, 30, what="the bootstrap token")
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as api:
            # When a file is dropped
            (tmp_path / "inbox" / "a.txt").write_text("a")
            wait_for((tmp_path / "outbox" / "a.txt").exists, 60, what="a.txt delivered")
            # and other processes open and close the store meanwhile (a CLI command)
            assert run_filerelay(("status",), tmp_path, env).returncode in (0, 1)

            # Then run's API lists its event
            def listed() -> bool:
                items = api.get("/api/v1/events").json()["items"]
                return any(i["relpath"] == "a.txt" for i in items)

            wait_for(listed, 15, what="a.txt in GET /api/v1/events")
            # When the source is paused through the API and a new file dropped
            assert api.post("/api/v1/sources/inbox/pause").status_code == 200
            wait_for(lambda: _watcher(api)["details"].get("paused") == ["inbox"], 15, what="pause")
            (tmp_path / "inbox" / "b.txt").write_text("b")
            # Then the watcher holds it (its heartbeat says so) and it is not delivered
            held = lambda: _watcher(api)["details"].get("held") == {"inbox": 1}  # noqa: E731
            wait_for(held, 15, what="b.txt held")
            assert not (tmp_path / "outbox" / "b.txt").exists()
            # When the source is resumed / then the file is released
            assert run_filerelay(("status",), tmp_path, env).returncode in (0, 1)
            assert api.post("/api/v1/sources/inbox/resume").status_code == 200
            wait_for((tmp_path / "outbox" / "b.txt").exists, 60, what="b.txt released")
            # and the watcher's heartbeat is still fresh
            assert _fresh(_watcher(api), 5), _watcher(api)
            assert "malformed" not in run.log()
    finally:
        run.stop()
