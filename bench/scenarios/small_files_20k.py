"""small_files_20k: the small_files burst at 20,000 files (full run only: ``--quick`` leaves it
out unless it is named with ``--only``), in one round, against the boto3 8-thread pool, with
s5cmd beside it (aws and rclone, a minute or more each at this size, are not run).
"""

from __future__ import annotations

from bench.context import Context
from bench.report import Result
from bench.scenarios import small_files

NAME = "small_files_20k"
FULL_ONLY = True
FILES = 20_000


def run(ctx: Context) -> Result:
    return small_files.measure(ctx, NAME, FILES, rounds=1, every_baseline=False)
