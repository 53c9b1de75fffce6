"""latency: 4 KiB files written at a steady 20/s for 30 s (--quick 10 s) into a watched tree
with the S3 route, then one round at 200/s for 10 s (--quick 3 s: a burst's batching must
not add latency either, ``p99_at_200_per_s`` in ``extra``); per file, the time from the end
of its write (close) to *pipeline done* minus the silence window. Pipeline done is the
file's event row in the store reaching ``succeeded``: its ``updated_at`` is the finish time
(the object is in the bucket by then). A few warm-up files go through first (each worker
process's first task loads the rules and builds its S3 client); the first one's latency is
reported apart as ``cold_first_file_ms``.

Baseline: the same number of files sent by one boto3 ``put_object`` each, one after the
other, p99 of the call: the floor for a file that has to go up.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench import pipelines
from bench.context import Context
from bench.harness import Relay
from bench.report import Result, Stats, percentile

NAME = "latency"
RATE_PER_S = 20
FAST_RATE_PER_S = 200
WARM_UP_FILES = 2 * pipelines.WORKER_CONCURRENCY


def run(ctx: Context) -> Result:
    duration_s = 10 if ctx.quick else 30
    rounds = 3
    files = RATE_PER_S * duration_s
    runs: list[dict[str, float]] = []
    floors: list[float] = []
    for _ in range(rounds):
        runs.append(_filerelay(ctx, files))
        floors.append(_direct(ctx, files))
    fast = _filerelay(ctx, FAST_RATE_PER_S * (3 if ctx.quick else 10), FAST_RATE_PER_S)
    return Result(
        NAME,
        "ms p99",
        Stats.of([r["p99"] for r in runs]),
        Stats.of(floors),
        "boto3 put_object p99",
        target=150,
        target_on="value",
        better="lower",
        notes=f"{RATE_PER_S} files/s for {duration_s} s per round after {WARM_UP_FILES} warm-up "
        f"files (cold_first_file_ms: the first of those); done = event row 'succeeded' "
        f"(updated_at), minus silence {pipelines.SILENCE_S:g} s",
        extra={
            "p50": Stats.of([r["p50"] for r in runs]).median,
            "p95": Stats.of([r["p95"] for r in runs]).median,
            "cold_first_file_ms": Stats.of([r["cold_ms"] for r in runs]).median,
            "p99_at_200_per_s": fast["p99"],
            "p50_at_200_per_s": fast["p50"],
        },
    )


def _paced_writes(directory: Path, files: int, rate_per_s: float = RATE_PER_S) -> dict[str, float]:
    """Write ``files`` files at ``rate_per_s`` (0: at once); name -> wall time its write ended."""
    written: dict[str, float] = {}
    directory.mkdir(exist_ok=True)
    block = os.urandom(4096)
    start = time.monotonic()
    for i in range(files):
        delay = start + i / rate_per_s - time.monotonic() if rate_per_s else 0
        if delay > 0:
            time.sleep(delay)
        rel = f"f{i:05d}.bin"
        with open(directory / rel, "wb") as fh:
            fh.write(i.to_bytes(8, "little") + block[8:])
        written[rel] = time.time()
    return written


def _filerelay(ctx: Context, files: int, rate_per_s: float = RATE_PER_S) -> dict[str, float]:
    root = ctx.tempdir("latency")
    inbox = root / "in"
    inbox.mkdir()
    bucket = ctx.bucket("latency")
    relay = Relay(root, pipelines.s3_config(inbox, bucket), ctx.redis_url(), ctx.s3.env())
    with relay:
        pipelines.start(relay)
        warm = _warm_up(relay, inbox)
        written = _paced_writes(inbox / "steady", files, rate_per_s)
        pipelines.wait_done(relay, files + WARM_UP_FILES, timeout_s=120 + files * 0.5)
        done = {f.relpath: f.at for f in pipelines.finished(relay)}
    ms = [(done[f"steady/{rel}"] - at - pipelines.SILENCE_S) * 1000 for rel, at in written.items()]
    out = {p: percentile(ms, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}
    return out | {"cold_ms": (done[warm[0]] - warm[1] - pipelines.SILENCE_S) * 1000}


def _warm_up(relay: Relay, inbox: Path) -> tuple[str, float]:
    """Send WARM_UP_FILES files through first, one per worker process and more: each
    process's first task loads the rules and builds its S3 client. Their latency is
    reported apart (``cold_ms``: the first file's)."""
    first = _paced_writes(inbox / "warm", WARM_UP_FILES)
    pipelines.wait_done(relay, WARM_UP_FILES, timeout_s=60)
    return "warm/f00000.bin", first["f00000.bin"]


def _direct(ctx: Context, files: int) -> float:
    """p99 (ms) of one ``put_object`` per file, the files written first, sent one by one."""
    directory = ctx.tempdir("latency-direct")
    written = _paced_writes(directory, files, rate_per_s=0)
    bucket = ctx.bucket("direct")
    client = ctx.s3.client()
    ms: list[float] = []
    for rel in written:
        t0 = time.monotonic()
        client.put_object(Bucket=bucket, Key=rel, Body=(directory / rel).read_bytes())
        ms.append((time.monotonic() - t0) * 1000)
    return percentile(ms, 99)
