"""Running filerelay's operator commands against a :class:`Relay` in a test."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

from tests.conftest import stop_process
from tests.e2e.harness import Proc, Relay


def cli(relay: Relay, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """``filerelay ARGS`` with the relay's environment, in its own process group."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "filerelay", *args],
        cwd=relay.root,
        env=relay.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop_process(proc)  # type: ignore[arg-type]
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def cli_json(relay: Relay, *args: str) -> Any:
    """``filerelay ARGS --json``, parsed; fails on a non-zero exit."""
    result = cli(relay, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def extra_proc(relay: Relay, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
    """A filerelay process of the relay that does not take --config (flower) or has its own
    options; stopped with the relay."""
    argv = [sys.executable, "-m", "filerelay", *args]
    proc = Proc(name, argv, {**relay.env, **(env or {})}, relay.root, relay.root / f"{name}.log")
    relay.procs.append(proc)
    return proc.start()


def private_queue() -> dict[str, str]:
    """Settings giving a relay its own Celery queue, so other test sessions sharing the Redis
    database never take its tasks."""
    return {"FILERELAY_QUEUE": f"t-{uuid.uuid4().hex[:12]}"}
