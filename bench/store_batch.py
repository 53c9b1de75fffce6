"""The store's CPU per file for an ingest batch, set-wise against one file at a time.

    python -m bench.store_batch [--files 1600] [--batch 16] [--db sqlite|postgresql]

Admits ``--files`` new events with a one-step route, each claiming its step inline, and then
records every step's success, twice in the same run on the same kind of store: once one event
and one success at a time (``Store.admit``, ``Store.succeed_step``: a transaction each, the
baseline), once in batches of ``--batch`` (``Store.admit_many``, ``Store.succeed_steps``: what
an ingest batch does). Prints the CPU time (``time.process_time``) and wall time per file of
each phase and the ratios. PostgreSQL: 127.0.0.1:5432 (``FILERELAY_BENCH_PG``), a database
made and dropped per run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from filerelay.model import FileEvent
from filerelay.store import InlineClaim, Store, Verdict, make_engine
from filerelay.store.migrate import upgrade
from filerelay.store.records import RoutePlan, StepPlan

PG = os.environ.get("FILERELAY_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_batch", description=__doc__)
    parser.add_argument("--files", type=int, default=1600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args(argv)
    rows = []
    for mode in ("one at a time", f"batches of {args.batch}"):
        with _store(args.db) as store:
            batch = 1 if mode == "one at a time" else args.batch
            rows.append((mode, *_measure(store, args.files, batch, f"{mode[:3]}{batch}")))
    print(f"{args.files} files, {args.db}; CPU / wall ms per file")
    print("| mode | admit | record success |")
    print("|---|---|---|")
    for mode, admit, record in rows:
        print(f"| {mode} | {admit[0]:.2f} / {admit[1]:.2f} | {record[0]:.2f} / {record[1]:.2f} |")
    (_, a1, r1), (_, ab, rb) = rows
    print(
        f"ratio (batch / one at a time, CPU): admit {ab[0] / a1[0]:.2f}, record {rb[0] / r1[0]:.2f}"
    )
    return 0


def _measure(
    store: Store, files: int, batch: int, tag: str
) -> tuple[tuple[float, float], tuple[float, float]]:
    route = RoutePlan(route="up", steps=[StepPlan(0, 0, "put", "copy", 3)])
    verdict = Verdict(plans=[route], config_hash="bench")
    claim = InlineClaim("up", 0, 0, "bench-worker", 600)
    items = [
        (FileEvent(source="bench", path=f"/b/{tag}/{i}.bin", relpath=f"{tag}/{i}.bin",
                   size=4096, mtime_ns=0, inode=i, ctime_ns=0, dedup_key=f"{tag}-{i}"),
         verdict, claim)
        for i in range(files)
    ]  # fmt: skip
    claims: list[Any] = []

    def admit() -> None:
        for i in range(0, files, batch):
            chunk = items[i : i + batch]
            answers = [store.admit(*chunk[0])] if batch == 1 else store.admit_many(chunk)
            claims.extend(a.claimed for a in answers)

    def record() -> None:
        for i in range(0, files, batch):
            chunk = [(c, "bench-worker", {"ok": True}) for c in claims[i : i + batch]]
            if batch == 1:
                store.succeed_step(*chunk[0])
            else:
                store.succeed_steps(chunk)

    return _per_file(admit, files), _per_file(record, files)


def _per_file(work: Callable[[], None], files: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return (
        (time.process_time() - cpu) * 1000 / files,
        (time.perf_counter() - wall) * 1000 / files,
    )


@contextmanager
def _store(db: str) -> Iterator[Store]:
    """A fresh store at head: a temporary SQLite file, or a PostgreSQL database made and
    dropped here."""
    if db == "sqlite":
        with tempfile.TemporaryDirectory(prefix="fr-store-batch-") as tmp:
            yield from _migrated(f"sqlite:///{Path(tmp) / 'store.db'}")
        return
    name = f"fr_store_batch_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield from _migrated(f"{PG}/{name}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name}"))
        admin.dispose()


def _migrated(url: str) -> Iterator[Store]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield Store(engine)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
