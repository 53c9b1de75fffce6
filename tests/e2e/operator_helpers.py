"""Running filerelay's operator commands against a :class:`Relay` in a test."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

from tests.e2e.harness import Proc, Relay, run_filerelay


def cli(relay: Relay, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """``filerelay ARGS`` with the relay's environment, in its own process group."""
    return run_filerelay(args, relay.root, relay.env, timeout_s)


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
