"""Schemathesis against the live OpenAPI document of a real ``filerelay serve`` (with an
admin token): no input makes a route answer 5xx, and every response conforms to the schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port, port_open, stop_process, wait_for
from tests.e2e.harness import clean_env, run_filerelay

CONFIG = """\
sources:
  - name: inbox
    path: {root}/inbox
routes:
  - name: copy
    when: {{source: inbox}}
    steps:
      - copy: {{to: "{root}/outbox/{{relpath}}"}}
"""


@pytest.mark.slow
def test_no_input_makes_the_api_fail_or_break_its_schema(tmp_path: Path) -> None:
    # given a served API on a deployment of its own, and an admin token
    for name in ("inbox", "outbox"):
        (tmp_path / name).mkdir()
    (tmp_path / "p.yaml").write_text(CONFIG.format(root=tmp_path))
    port = free_port()
    env = clean_env(
        FILERELAY_STATE_DIR=str(tmp_path / "state"),
        FILERELAY_API_PORT=str(port),
        FILERELAY_API_AUTH_FAILURES_PER_MINUTE="1000000",
    )
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "filerelay", "serve", "--config", str(tmp_path / "p.yaml")],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: port_open("127.0.0.1", port), 60, what="filerelay serve")
        made = run_filerelay(("tokens", "create", "fuzz", "--role", "admin"), tmp_path, env)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        # when schemathesis fuzzes every operation but the endless streams
        st = shutil.which("st", path=str(Path(sys.executable).parent))
        assert st is not None
        run = subprocess.run(
            [
                st,
                "run",
                f"http://127.0.0.1:{port}/api/v1/openapi.json",
                "-H",
                f"Authorization: Bearer {token}",
                "-c",
                "not_a_server_error,response_schema_conformance",
                "-n",
                "5",
                "--exclude-path-regex",
                "stream",
                "--seed",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
        )
        # then no check failed
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    finally:
        stop_process(proc)
        log.close()
