"""The CPU per file of the watcher's first reconcile walk, in-process, against a bare scandir.

    python -m bench.walk_cpu [--files 100000] [--repeat 5] [--silence 0.2]
                             [--include GLOB ...] [--exclude GLOB ...] [--profile OUT]
                             [--tree DIR]

Makes a tree of ``--files`` files, 100 a directory (as watch_scale does; ``--tree`` keeps it
in DIR for later runs, made once), then alternates, ``--repeat`` times: the benchmark's bare
``os.scandir`` walk (a stat per file), and a fresh ``SourceWatch`` and ``Outbox`` (empty state
dir: a tree never seen) running ``full_rescan`` as the watcher does at start-up, without an
observer, a broker or publishing. Prints the CPU time (``time.process_time``) of each, per
file, medians and minimums (other processes on the cores inflate CPU time too, the minimum
least), and their ratio, the one watch_scale measures in wall time. ``--profile`` writes the
walks' cProfile stats to OUT and prints the top of them (the walk's CPU time then includes
cProfile's own overhead: time without it).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path

import structlog

from bench.files import make_tree, scandir_walk
from filerelay.config.models import Source
from filerelay.watcher.outbox import Outbox
from filerelay.watcher.source_watch import SourceWatch

FILES_PER_DIR = 100


def first_walk(source: Source, profile: cProfile.Profile | None) -> tuple[float, int]:
    """CPU seconds of one start-up reconcile walk of a never-seen tree; files pending after."""
    with tempfile.TemporaryDirectory(prefix="fr-walk-state-") as state:
        outbox = Outbox(Path(state))
        try:
            sw = SourceWatch(source, queue.SimpleQueue(), clock=time.time)
            started = time.process_time()
            if profile is not None:
                profile.enable()
            sw.full_rescan(outbox, time.time)
            if profile is not None:
                profile.disable()
            return time.process_time() - started, len(sw.detector)
        finally:
            outbox.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.walk_cpu", description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--silence", type=float, default=0.2)
    parser.add_argument("--include", nargs="*", default=["**"])
    parser.add_argument("--exclude", nargs="*", default=[])
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--tree", type=Path, help="keep the tree here (made once)")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="fr-walk-") as tmp:
        tree = args.tree or Path(tmp) / "tree"
        if not (tree.is_dir() and scandir_walk(str(tree)) == args.files):
            make_tree(tree, args.files, max(1, args.files // FILES_PER_DIR))
        source = Source(
            name="walk",
            path=tree,
            silence=args.silence,
            include=args.include,
            exclude=args.exclude,
            rescan_interval=3600,
        )
        profile = cProfile.Profile() if args.profile else None
        scans: list[float] = []
        walks: list[float] = []
        for _ in range(args.repeat):
            started = time.process_time()
            if scandir_walk(str(tree)) != args.files:
                raise RuntimeError(f"{tree} does not hold {args.files} files")
            scans.append(time.process_time() - started)
            cpu, pending = first_walk(source, profile)
            walks.append(cpu)
    _report(args.files, scans, walks, pending)
    if profile is not None:
        profile.dump_stats(args.profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    return 0


def _report(files: int, scans: list[float], walks: list[float], pending: int) -> None:
    us = 1e6 / files
    for name, values in (("scandir walk", scans), ("reconcile walk", walks)):
        print(
            f"{name:>15}: CPU {statistics.median(values) * us:.2f} us/file median, "
            f"{min(values) * us:.2f} min ({len(values)} runs)"
        )
    ratio_median = statistics.median(walks) / statistics.median(scans)
    print(
        f"ratio {ratio_median:.2f} (medians), {min(walks) / min(scans):.2f} (minimums); "
        f"{pending:,} of {files:,} files pending; load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
