"""A worker's metrics directory does not grow with every pool process that exits: at a
scrape, the counter and histogram files of processes gone are added into one file per kind,
and the totals stay the same. Real prometheus_client multiprocess files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prometheus_client import generate_latest

from filerelay.metrics import multiproc

CHILD = """\
import sys
from filerelay.metrics import multiproc
from pathlib import Path
multiproc.enable(Path(sys.argv[1]))
from prometheus_client import Counter, Histogram
runs = Counter("filerelay_test_runs", "runs", ["state"])
took = Histogram("filerelay_test_seconds", "took", buckets=(0.1, 1.0))
runs.labels("succeeded").inc(int(sys.argv[2]))
took.observe(0.5)
"""


def child_process(path: Path, runs: int) -> None:
    """A process that counts ``runs`` runs and one 0.5 s duration, then exits."""
    subprocess.run([sys.executable, "-c", CHILD, str(path), str(runs)], check=True, timeout=60)


def scrape(path: Path) -> str:
    return generate_latest(multiproc.served_registry(path)).decode()


def sample(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name))
    return float(line.rsplit(" ", 1)[1])


def test_the_files_of_processes_gone_are_folded_and_the_totals_kept(tmp_path: Path) -> None:
    # given three pool processes that ran and exited
    for runs in (2, 3, 5):
        child_process(tmp_path, runs)
    assert len(list(tmp_path.glob("counter_*.db"))) == 3
    # when the worker is scraped, then the totals are theirs summed
    first = scrape(tmp_path)
    assert sample(first, 'filerelay_test_runs_total{state="succeeded"}') == 10
    assert sample(first, "filerelay_test_seconds_count") == 3
    assert sample(first, 'filerelay_test_seconds_bucket{le="1.0"}') == 3
    # and their files are one per kind
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [
        "counter_gone.db",
        "histogram_gone.db",
    ]
    # when more processes come and go, then the next scrapes keep adding up
    child_process(tmp_path, 4)
    second = scrape(tmp_path)
    assert sample(second, 'filerelay_test_runs_total{state="succeeded"}') == 14
    assert sample(second, "filerelay_test_seconds_sum") == 2.0
    assert scrape(tmp_path) == second
    assert len(list(tmp_path.glob("*.db"))) == 2
