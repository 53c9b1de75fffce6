"""watch_scale: a tree of 100,000 files in 1,000 directories (--quick 20,000 in 200) that the
watcher has never seen. Per round a fresh ``filerelay watch`` (own state dir and Redis db, no
worker) starts on it: start-up to ``watcher_ready``, the reconcile walk's own time (its
``watcher.rescan`` log line), and the watcher's peak RSS (VmHWM) once every file has been
published to Redis (its outbox empty and every file in its seen index).

watch_scale_1m (``bench/scenarios/watch_scale_1m.py``) is the same measure at 1,000,000 files.

Baseline: a plain ``os.scandir`` walk of the same tree, stat'ing every file (warm cache).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

import redis

from bench import pipelines
from bench.context import Context
from bench.files import make_tree, scandir_walk
from bench.harness import Relay, log_events, vm_hwm_mb, wait_for
from bench.report import Result, Stats

NAME = "watch_scale"
FILES_PER_DIR = 100
RSS_TARGET_MB = 150


def run(ctx: Context) -> Result:
    files = 20_000 if ctx.quick else 100_000
    tree = ctx.tempdir("scale") / "tree"
    make_tree(tree, files, files // FILES_PER_DIR)
    return measure(ctx, NAME, tree, files, rounds=3, rss_target_mb=RSS_TARGET_MB)


def measure(
    ctx: Context, name: str, tree: Path, files: int, rounds: int, rss_target_mb: float
) -> Result:
    """``rounds`` scandir walks and fresh watchers on ``tree`` (``files`` files), as the line
    ``name``."""
    walks = [_scandir_walk(str(tree), files) for _ in range(rounds)]
    rounds_out = [_watcher(ctx, tree, files, publish=i == 0) for i in range(rounds)]
    reconcile = [r["reconcile_s"] for r in rounds_out]
    ready = [r["ready_s"] for r in rounds_out]
    rss_mb, publish_rate = rounds_out[0]["rss_mb"], rounds_out[0]["published_per_s"]
    rss_met = rss_mb <= rss_target_mb
    return Result(
        name,
        "s reconcile walk",
        Stats.of(reconcile),
        Stats.of(walks),
        "os.scandir walk",
        target=2.0,
        better="lower",
        notes=f"{files:,} files, {rounds} round{'s' * (rounds > 1)}; first start on the tree "
        f"(every file new: walked, held {pipelines.SILENCE_S:g} s, written to the outbox and "
        f"published); peak RSS (VmHWM) {rss_mb:.0f} MB against a target of ≤ "
        f"{rss_target_mb:g} MB: {'met' if rss_met else 'NOT met'}; RSS and the publish rate "
        "from round 1, which waits until every file is published",
        extra={
            "files": files,
            "ready_s": Stats.of(ready).median,
            "rss_mb": rss_mb,
            "rss_target_mb": rss_target_mb,
            "rss_met": rss_met,
            "published_per_s": publish_rate,
        },
    )


def _scandir_walk(root: str, expected: int) -> float:
    started = time.monotonic()
    count = scandir_walk(root)
    elapsed = time.monotonic() - started
    if count != expected:
        raise RuntimeError(f"walk found {count} of {expected} files")
    return elapsed


def _watcher(ctx: Context, tree: Path, files: int, publish: bool) -> dict[str, float]:
    """One watcher start; with ``publish`` also wait until every file is in Redis."""
    root = ctx.tempdir("scale-relay")
    url = ctx.redis_url()
    relay = Relay(root, pipelines.copy_config(tree, root / "out"), url)
    with contextlib.closing(redis.Redis.from_url(url)) as queue, relay:
        watcher = relay.start_watcher()
        ready_at = watcher.wait_log('"watcher_ready"', 300 + files / 1000)
        rss_mb, published_per_s = vm_hwm_mb(watcher.pid), 0.0
        if publish:
            outbox = root / "state" / "watcher.sqlite"
            # the seen count reads the whole index: at 1,000,000 files, once a second
            every_s = 0.1 if files <= 100_000 else 1.0
            wait_for(
                lambda: _all_published(outbox, files),
                900 + files / 500,
                "every file published",
                every_s,
            )
            published_per_s = files / (time.monotonic() - ready_at)
            rss_mb = vm_hwm_mb(watcher.pid)
        rescans = log_events(watcher.log(), "watcher.rescan")
        relay.stop()
        queue.flushdb()  # the published events: about 0.5 GB of Redis at 1,000,000 files
    if not rescans or rescans[0]["files"] != files:
        raise RuntimeError(f"reconcile walk did not see {files} files: {rescans}")
    return {
        "ready_s": ready_at - watcher.started_at,
        "reconcile_s": float(rescans[0]["duration_s"]),
        "rss_mb": rss_mb,
        "published_per_s": published_per_s,
    }


def _all_published(outbox: Path, files: int) -> bool:
    """Whether the watcher's outbox is empty with ``files`` files in its seen index: every file
    emitted and accepted by the broker (counting Redis messages would not tell, since a
    backlog goes out in ingest batches of several files, to the host's own queue)."""
    if not outbox.exists():
        return False
    with contextlib.closing(sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)) as db:
        db.execute("PRAGMA busy_timeout = 5000")
        try:
            if db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone():
                return False  # cheap first: the seen count reads the whole index
            seen = db.execute("SELECT count(*) FROM seen").fetchone()[0]
        except sqlite3.OperationalError:
            return False  # tables not created yet
    return bool(seen >= files)
