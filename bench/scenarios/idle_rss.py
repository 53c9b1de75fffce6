"""idle_rss: the memory of an idle ``filerelay run -C 2`` on the embedded defaults (no broker
URL: the embedded filesystem broker, SQLite store), serving the quickstart's ``copy`` route.

Each round starts a fresh ``filerelay run``, waits for ``watcher_ready`` and
``worker_ready`` and for the worker's pool processes, then until the tree's summed RSS holds
still (within ``STABLE_MB`` over ``STABLE_S``), and reads every process of its tree with
psutil: RSS, USS and PSS, per process and summed ("awake"). It then waits for the worker's
pool to rest (``pool_resting``, after ``FILERELAY_WORKER_IDLE_EXIT_S``, 60 s by default) and
its processes to be gone, settles again and reads the tree once more ("idle"). The value is
the idle RSS sum (target ≤ 200 MB); the RSS sum counts the pages a forked child shares with
its parent once per process, PSS splits them, so the PSS sum is what the tree costs the
machine. No baseline.
"""

from __future__ import annotations

import time

from bench import pipelines
from bench.context import Context
from bench.harness import wait_for
from bench.proctree import TreeMemory, tree_memory, tree_pids, tree_rss_mb
from bench.report import Result, Stats
from bench.scenarios.embedded import RunRelay

NAME = "idle_rss"
TARGET_MB = 200
#: Settled: the summed RSS moved less than this over the last STABLE_S seconds.
STABLE_MB = 2.0
STABLE_S = 5.0
SETTLE_TIMEOUT_S = 120.0
#: The default idle spell (60 s) and the processes' exit, with room to spare.
REST_TIMEOUT_S = 180.0


def run(ctx: Context) -> Result:
    rounds = 1 if ctx.quick else 3
    pairs = [_idle_tree(ctx) for _ in range(rounds)]
    trees = [idle for _, idle in pairs]
    awake = Stats.of([a.rss_mb for a, _ in pairs]).median
    awake_pss = Stats.of([a.pss_mb for a, _ in pairs]).median
    rss = Stats.of([t.rss_mb for t in trees])
    pss = Stats.of([t.pss_mb for t in trees]).median
    uss = Stats.of([t.uss_mb for t in trees]).median
    # the per-process figures of the round whose RSS sum is the median (or closest to it)
    middle = min(trees, key=lambda t: abs(t.rss_mb - rss.median))
    per_proc = ", ".join(f"{p.role} {p.rss_mb:.0f}" for p in middle.procs)
    return Result(
        NAME,
        "MB RSS summed",
        rss,
        None,
        "",
        target=TARGET_MB,
        target_on="value",
        better="lower",
        notes=f"`filerelay run -C {pipelines.WORKER_CONCURRENCY}`, embedded defaults, copy "
        f"route, idle (pool rested); PSS summed {pss:.0f} MB, USS summed {uss:.0f} MB; "
        f"{len(middle.procs)} processes, RSS (MB): {per_proc}; awake (pool processes up): "
        f"{awake:.0f} MB RSS summed, PSS {awake_pss:.0f} MB",
        extra={
            "pss_mb": pss,
            "uss_mb": uss,
            "awake_rss_mb": awake,
            "awake_pss_mb": awake_pss,
            "processes": [p.to_json() for p in middle.procs],
        },
    )


def _idle_tree(ctx: Context) -> tuple[TreeMemory, TreeMemory]:
    """Start ``filerelay run``, wait until it is ready and settled, read its tree, wait for
    its pool to rest, read it again, stop it: (awake, idle)."""
    root = ctx.tempdir("idle-rss")
    inbox, outbox = root / "in", root / "out"
    inbox.mkdir()
    relay = RunRelay(root, pipelines.copy_config(inbox, outbox), "")
    with relay:
        relay.start_run()
        pid = relay.procs[0].pid
        # the run process, its worker and the worker's pool processes at least
        wait_for(
            lambda: len(tree_pids(pid)) >= 2 + pipelines.WORKER_CONCURRENCY,
            60,
            "the worker's pool processes",
            0.1,
        )
        _settle(pid)
        awake = tree_memory(pid)
        relay.procs[0].wait_log("pool_resting", REST_TIMEOUT_S)
        wait_for(lambda: len(tree_pids(pid)) == 2, 60, "the pool processes gone", 0.1)
        _settle(pid)
        return awake, tree_memory(pid)


def _settle(pid: int) -> None:
    """Wait until the tree's summed RSS moved less than STABLE_MB over STABLE_S."""
    samples: list[tuple[float, float]] = []

    def settled() -> bool:
        now = time.monotonic()
        samples.append((now, tree_rss_mb(pid)))
        window = [rss for at, rss in samples if at >= now - STABLE_S]
        spanned = now - samples[0][0] >= STABLE_S
        return spanned and max(window) - min(window) < STABLE_MB

    wait_for(settled, SETTLE_TIMEOUT_S, f"the RSS to hold within {STABLE_MB:g} MB", 0.5)
