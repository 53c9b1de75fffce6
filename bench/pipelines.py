"""filerelay deployments the scenarios share: an S3 upload route and a local copy route, and
one timed burst through watcher → Redis → worker → store."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.files import Burst
from bench.harness import Relay, wait_for

# Short enough not to dominate a burst, long enough to be a real stability wait.
SILENCE_S = 0.2
WORKER_CONCURRENCY = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "2"))
WORKER_POOL = os.environ.get("BENCH_WORKER_POOL", "prefork")

S3_CONFIG = """\
connections:
  s3:
    type: s3
    endpoint_url: "${{BENCH_S3_ENDPOINT}}"
    access_key_id: "${{BENCH_S3_KEY}}"
    secret_access_key: "${{BENCH_S3_SECRET}}"
    path_style: true
sources:
  - {{name: in, path: "{inbox}", silence: {silence_ms}ms}}
routes:
  - name: upload
    steps:
      - s3: {{connection: s3, bucket: "{bucket}"{s3_extra}}}
"""

COPY_CONFIG = """\
sources:
  - {{name: in, path: "{inbox}", silence: {silence_ms}ms}}
routes:
  - name: copy
    steps:
      - copy: {{to: "{outbox}/{{relpath}}", fsync: false}}
"""


def s3_config(inbox: Path, bucket: str, s3_extra: str = "") -> str:
    silence_ms = round(SILENCE_S * 1000)
    return S3_CONFIG.format(inbox=inbox, bucket=bucket, silence_ms=silence_ms, s3_extra=s3_extra)


def copy_config(inbox: Path, outbox: Path) -> str:
    return COPY_CONFIG.format(inbox=inbox, outbox=outbox, silence_ms=round(SILENCE_S * 1000))


def start(relay: Relay, concurrency: int = WORKER_CONCURRENCY, pool: str = WORKER_POOL) -> None:
    """Start a worker and a watcher side by side and wait until both are ready (and each
    prefork pool process has prepared its steps: the baselines build their clients first
    too)."""
    worker = relay.start_worker(concurrency, pool)
    watcher = relay.start_watcher()
    worker.wait_log("worker_ready", 120)
    watcher.wait_log('"watcher_ready"', 120)
    if pool == "prefork":  # each pool process has built its clients, as the baselines have
        worker.wait_log("warmed_up", 120, count=concurrency)


@dataclass(frozen=True)
class Finished:
    """Per event: relpath and the wall time its event row was last updated (succeeded)."""

    relpath: str
    at: float


def finished(relay: Relay) -> list[Finished]:
    rows = relay.sql("SELECT relpath, updated_at FROM file_events WHERE state = 'succeeded'")
    return [Finished(rel, _unix(at)) for rel, at in rows]


def _unix(stored: str) -> float:
    return datetime.fromisoformat(stored).replace(tzinfo=UTC).timestamp()


def wait_done(relay: Relay, files: int, timeout_s: float) -> float:
    """Wait for ``files`` succeeded events; the wall time the last of them finished."""

    def done() -> bool:
        failed = relay.count_events("failed")
        if failed:
            raise RuntimeError(
                f"{failed} events failed; worker log:\n{relay.procs[0].log()[-3000:]}"
            )
        return relay.count_events() >= files

    wait_for(done, timeout_s, f"{files} succeeded events", interval_s=0.05)
    return max(f.at for f in finished(relay))


def burst_rate(
    relay: Relay, root: Path, burst: Burst, check: Callable[[], int] | None = None
) -> float:
    """Start ``relay``, drop the burst into ``root`` at once; files/s from the first write to
    the last event done (``check``, if given, must then count every file at the far end)."""
    start(relay)
    payloads = burst.payloads()
    started = burst.write(root, payloads)
    last = wait_done(relay, burst.files, timeout_s=60 + burst.files * 0.5)
    if check is not None:
        count = check()
        if count != burst.files:
            raise RuntimeError(f"{count} of {burst.files} files arrived")
    relay.stop()
    time.sleep(0.1)
    return burst.files / (last - started)
