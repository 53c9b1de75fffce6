"""embedded: ``filerelay run`` with no Redis (the quickstart's default: SQLite store and the
embedded filesystem broker) against the same ``filerelay run`` on Redis, same machine, same
run, for the quickstart's ``copy`` step and for an S3 upload.

The burst of small_files (4 KiB files in 20 directories, written at once) is timed from the
first write to the last event ``succeeded`` in the store, then the far end is checked to hold
every file. Both sides are one ``filerelay run -C 2`` (watcher, worker and reconciler).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench import pipelines
from bench.context import Context
from bench.files import Burst
from bench.harness import Relay
from bench.report import Result, Stats

NAME = "embedded"


class RunRelay(Relay):
    """A deployment served by one ``filerelay run`` (embedded broker without a URL)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.broker_url:
            self.env.pop("FILERELAY_BROKER_URL", None)

    def start_run(self) -> None:
        proc = self.start("run", "run", "-C", str(pipelines.WORKER_CONCURRENCY))
        proc.wait_log('"watcher_ready"', 120)
        proc.wait_log("worker_ready", 120)


def run(ctx: Context) -> Result:
    burst = Burst(300 if ctx.quick else 1000)
    rounds = 3
    rates: dict[str, list[float]] = {k: [] for k in ("copy", "copy redis", "s3", "s3 redis")}
    for _ in range(rounds):
        rates["copy"].append(_copy(ctx, burst, None))
        rates["copy redis"].append(_copy(ctx, burst, ctx.redis_url()))
        rates["s3"].append(_s3(ctx, burst, None))
        rates["s3 redis"].append(_s3(ctx, burst, ctx.redis_url()))
    medians = {k: Stats.of(v).median for k, v in rates.items()}
    s3_ratio = medians["s3"] / medians["s3 redis"]
    return Result(
        NAME,
        "files/s",
        Stats.of(rates["copy"]),
        Stats.of(rates["copy redis"]),
        "the same `filerelay run` on Redis (copy step)",
        target=0.8,
        notes=f"{burst.files} files x 4 KiB, `filerelay run -C {pipelines.WORKER_CONCURRENCY}`, "
        f"silence {pipelines.SILENCE_S:g} s; S3 step: embedded {medians['s3']:.0f} files/s "
        f"against {medians['s3 redis']:.0f} on Redis (ratio {s3_ratio:.2f})",
        extra={
            "s3 embedded": medians["s3"],
            "s3 redis": medians["s3 redis"],
            "s3 ratio": s3_ratio,
        },
    )


def _copy(ctx: Context, burst: Burst, broker: str | None) -> float:
    root = ctx.tempdir("embedded-copy")
    inbox, outbox = root / "in", root / "out"
    inbox.mkdir()
    relay = RunRelay(root, pipelines.copy_config(inbox, outbox), broker or "")
    with relay:
        return _burst(relay, inbox, burst, lambda: sum(1 for _ in outbox.rglob("*.bin")))


def _s3(ctx: Context, burst: Burst, broker: str | None) -> float:
    root = ctx.tempdir("embedded-s3")
    inbox = root / "in"
    inbox.mkdir()
    bucket = ctx.bucket("embedded")
    config = pipelines.s3_config(inbox, bucket)
    relay = RunRelay(root, config, broker or "", ctx.s3.env())
    with relay:
        return _burst(relay, inbox, burst, lambda: ctx.s3.count(bucket))


def _burst(relay: RunRelay, inbox: Path, burst: Burst, count: object) -> float:
    relay.start_run()
    started = burst.write(inbox, burst.payloads())
    last = pipelines.wait_done(relay, burst.files, timeout_s=60 + burst.files * 0.5)
    arrived = count() if callable(count) else burst.files
    if arrived != burst.files:
        raise RuntimeError(f"{arrived} of {burst.files} files arrived")
    relay.stop()
    time.sleep(0.1)
    return burst.files / (last - started)
