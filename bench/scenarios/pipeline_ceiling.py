"""pipeline_ceiling: the small_files burst through a route whose only step is a local
``copy``: files/s through watcher → Redis → worker → store, with no S3 in the way.

Baseline: Celery itself on the same Redis with filerelay's own Celery settings (late acks,
prefetch 1, JSON, task events) and the same worker flags (prefork, the same concurrency),
draining one trivial task per file, from the first publish to the last task run — filerelay
sends up to 16 files per message in a burst (ingest batches; the ingest runs a route's first
step itself). The same run also measures two-task chains per file (a task that publishes a
second one), the pattern filerelay had while every step went through the broker, and reports
it in ``extra``.
"""

from __future__ import annotations

import sys
import time

from bench import pipelines
from bench.context import Context
from bench.files import Burst
from bench.harness import REPO, Proc, Relay, clean_env, wait_for
from bench.report import Result, Stats

NAME = "pipeline_ceiling"


def run(ctx: Context) -> Result:
    burst = Burst(300 if ctx.quick else 2000)
    rounds = 3
    relay_rates, celery_rates, chain_rates = [], [], []
    for _ in range(rounds):
        relay_rates.append(_filerelay(ctx, burst))
        celery_rates.append(_celery(ctx, burst.files, "bench.land"))
        chain_rates.append(_celery(ctx, burst.files, "bench.hop"))
    chains = Stats.of(chain_rates).median
    return Result(
        NAME,
        "files/s",
        Stats.of(relay_rates),
        Stats.of(celery_rates),
        "Celery trivial tasks, one per file",
        target=1.0,
        notes=f"{burst.files} files x 4 KiB, copy step (no fsync), silence "
        f"{pipelines.SILENCE_S:g} s, worker {pipelines.WORKER_POOL} -C "
        f"{pipelines.WORKER_CONCURRENCY} on both sides; Celery 2-task chains: {chains:.0f} "
        f"files/s (ratio {Stats.of(relay_rates).median / chains:.2f})",
        extra={"baseline Celery 2-task chains": chains},
    )


def _filerelay(ctx: Context, burst: Burst) -> float:
    root = ctx.tempdir("ceiling")
    inbox, outbox = root / "in", root / "out"
    inbox.mkdir()
    relay = Relay(root, pipelines.copy_config(inbox, outbox), ctx.redis_url())
    with relay:
        return pipelines.burst_rate(
            relay, inbox, burst, check=lambda: sum(1 for _ in outbox.rglob("*.bin"))
        )


def _celery(ctx: Context, files: int, task: str) -> float:
    import redis

    from bench.celery_noop import COUNTER, client_app

    url = ctx.redis_url()
    root = ctx.tempdir("celery")
    argv = [
        sys.executable, "-m", "celery", "-A", "bench.celery_noop", "worker", "--loglevel=INFO",
        f"--pool={pipelines.WORKER_POOL}", f"--concurrency={pipelines.WORKER_CONCURRENCY}",
        "--queues=filerelay", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    env = clean_env(BENCH_BROKER_URL=url, PYTHONPATH=str(REPO))
    worker = Proc("celery", argv, root / "celery.log", env, REPO).start()
    counter = redis.Redis.from_url(url)
    try:
        worker.wait_log(" ready", 120)
        app = client_app(url)
        started = time.monotonic()
        with app.producer_or_acquire() as producer:
            for _ in range(files):
                app.send_task(task, queue="filerelay", producer=producer)
        wait_for(lambda: int(counter.get(COUNTER) or 0) >= files, 300, "the Celery baseline")
        return files / (time.monotonic() - started)
    finally:
        counter.close()
        worker.stop()
