"""What the long-running processes of ``filerelay run`` load at start, pinned: every module in
them is in the worker's pool processes too (they fork from the worker) and costs its memory
once per process. Measured with ``python -m bench.memory``; see bench/README.md.

- alembic (with mako and pygments) only in the short-lived child that migrates the store;
- neither Celery's click CLI (Flower and its tornado and redis, click-repl's prompt_toolkit)
  nor rich (which structlog would import for tracebacks filerelay does not render);
- boto3 only once an S3 step is prepared, FastAPI only where the API is served,
  prometheus_client only with a metrics port.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: Top-level packages a started worker and ``run``'s runtime must not hold.
NOT_AT_START = (
    "alembic",
    "mako",
    "pygments",
    "rich",
    "flower",
    "tornado",
    "prompt_toolkit",
    "click_repl",
    "boto3",
    "botocore",
    "fastapi",
    "uvicorn",
    "prometheus_client",
)

PROBE = """\
import json, os, sys
from filerelay.cli import _import_structlog_without_rich
_import_structlog_without_rich()  # what `python -m filerelay` does first
import celery.apps.worker
import filerelay.cli.run
from filerelay.cli.worker import start_worker
from filerelay.pipeline.runtime import build_runtime
from filerelay.settings import load_settings

def started(worker):  # where the pool would fork, once `run`'s runtime is built here too
    runtime = build_runtime(settings)
    loaded = sorted({name.split(".")[0] for name in sys.modules})
    rules = runtime.rules
    action = runtime.registry.get("s3")(rules.step("up", 0).action_config, rules.resources)
    action.prepare()
    print(json.dumps({"started": loaded, "s3": "boto3" in sys.modules}), flush=True)
    os._exit(0)

celery.apps.worker.Worker.start = started
settings = load_settings(config=sys.argv[1])
start_worker(settings, concurrency=1)  # migrates the store (in a child), builds the app
"""
CONFIG = """\
connections:
  store: {type: s3, endpoint_url: "http://127.0.0.1:9", access_key_id: k, secret_access_key: s}
sources:
  - {name: inbox, path: ./inbox, create: true}
routes:
  - name: up
    steps:
      - s3: {connection: store, bucket: inbound, key: "{relpath}"}
"""


def test_a_starting_worker_and_runs_runtime_hold_no_lazy_package(tmp_path: Path) -> None:
    config = tmp_path / "rules.yaml"
    config.write_text(CONFIG)
    env = {
        "PATH": "/usr/bin:/bin",
        "FILERELAY_STATE_DIR": str(tmp_path / "state"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(set(found["started"]) & set(NOT_AT_START)) == []
    assert found["s3"]  # the probe sees an import when there is one
