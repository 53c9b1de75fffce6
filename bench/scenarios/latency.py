"""latency: 4 KiB files written at a steady 20/s for 30 s (--quick 10 s) into a watched tree
with the S3 route; per file, the time from the end of its write (close) to *pipeline done*
minus the silence window. Pipeline done is the file's event row in the store reaching
``succeeded``: its ``updated_at`` is the finish time (the object is in the bucket by then).

Baseline: the same files at the same pace sent by one boto3 ``put_object`` each, timed from
the end of the write to the answer: the floor for a file that has to go up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from bench import pipelines
from bench.context import Context
from bench.harness import Relay
from bench.report import Result, Stats, percentile

NAME = "latency"
RATE_PER_S = 20


def run(ctx: Context) -> Result:
    duration_s = 10 if ctx.quick else 30
    rounds = 2 if ctx.quick else 3
    files = RATE_PER_S * duration_s
    runs: list[dict[str, float]] = []
    floors: list[float] = []
    for _ in range(rounds):
        runs.append(_filerelay(ctx, files))
        floors.append(_direct(ctx, files))
    return Result(
        NAME,
        "ms p99",
        Stats.of([r["p99"] for r in runs]),
        Stats.of(floors),
        "boto3 put_object p99",
        target=150,
        target_on="value",
        better="lower",
        notes=f"{RATE_PER_S} files/s for {duration_s} s per round; done = event row "
        f"'succeeded' (updated_at), minus silence {pipelines.SILENCE_S:g} s",
        extra={
            "p50": Stats.of([r["p50"] for r in runs]).median,
            "p95": Stats.of([r["p95"] for r in runs]).median,
        },
    )


def _paced_writes(
    directory: Path, files: int, on_written: Callable[[str], None] | None = None
) -> dict[str, float]:
    """Write ``files`` files at RATE_PER_S; relpath -> wall time its write ended."""
    written: dict[str, float] = {}
    block = os.urandom(4096)
    start = time.monotonic()
    for i in range(files):
        delay = start + i / RATE_PER_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        rel = f"f{i:05d}.bin"
        with open(directory / rel, "wb") as fh:
            fh.write(i.to_bytes(8, "little") + block[8:])
        written[rel] = time.time()
        if on_written is not None:
            on_written(rel)
    return written


def _filerelay(ctx: Context, files: int) -> dict[str, float]:
    root = ctx.tempdir("latency")
    inbox = root / "in"
    inbox.mkdir()
    bucket = ctx.bucket("latency")
    relay = Relay(root, pipelines.s3_config(inbox, bucket), ctx.redis_url(), ctx.s3.env())
    with relay:
        pipelines.start(relay)
        written = _paced_writes(inbox, files)
        pipelines.wait_done(relay, files, timeout_s=120)
        done = {f.relpath: f.at for f in pipelines.finished(relay)}
    ms = [(done[rel] - at - pipelines.SILENCE_S) * 1000 for rel, at in written.items()]
    return {p: percentile(ms, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}


def _direct(ctx: Context, files: int) -> float:
    """p99 (ms) of write-end -> put_object answered, at the same pace."""
    directory = ctx.tempdir("latency-direct")
    bucket = ctx.bucket("direct")
    client = ctx.s3.client()
    ms: list[float] = []

    def put(rel: str) -> None:
        t0 = time.monotonic()
        client.put_object(Bucket=bucket, Key=rel, Body=(directory / rel).read_bytes())
        ms.append((time.monotonic() - t0) * 1000)

    _paced_writes(directory, files, put)
    return percentile(ms, 99)
