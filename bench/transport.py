"""Embedded (filesystem) transport vs Redis, same machine, same pipeline, same run.

Drops N files into a watched dir served by `filerelay run` (watcher + one worker) with a local
`copy` route and times first write -> last copy. Prints files/s per transport and the ratio.

    python -m bench.transport [--files 500] [--rounds 3] [--redis redis://HOST:PORT]

Without ``--redis`` a private redis-server on a free loopback port is started (and stopped by
pid), as ``python -m bench`` does; its database 14 is flushed before each round.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.servers import redis_server

CONFIG = """\
sources:
  - {{name: in, path: "{inbox}", silence: 300ms}}
routes:
  - name: copy
    steps:
      - copy: {{to: "{outbox}/{{relpath}}", fsync: false}}
"""


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def one_round(files: int, broker: str | None) -> float:
    with tempfile.TemporaryDirectory(prefix="fr-bench-") as tmp:
        root = Path(tmp)
        inbox, outbox = root / "in", root / "out"
        inbox.mkdir()
        cfg = root / "cfg.yaml"
        cfg.write_text(CONFIG.format(inbox=inbox, outbox=outbox))
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILERELAY_")}
        env.update(FILERELAY_STATE_DIR=str(root / "state"), FILERELAY_LOG_LEVEL="WARNING")
        if broker:
            env["FILERELAY_BROKER_URL"] = broker
            import redis

            redis.Redis.from_url(broker).flushdb()
        log = (root / "run.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "filerelay", "run", "--config", str(cfg), "-C", "2"],
            env={**env, "FILERELAY_LOG_LEVEL": "INFO"},
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            text = lambda: (root / "run.log").read_text(errors="replace")  # noqa: E731
            _wait(lambda: "watcher_ready" in text() and "worker_ready" in text(), 120, "ready")
            start = time.monotonic()
            for i in range(files):
                sub = inbox / f"d{i % 20}"
                sub.mkdir(exist_ok=True)
                (sub / f"f{i}.bin").write_bytes(os.urandom(4096))
            _wait(lambda: sum(1 for _ in outbox.rglob("*.bin")) >= files, 600, "all copies")
            return time.monotonic() - start
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis", help="redis://HOST:PORT (default: a private redis-server)")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"embedded": [], "redis": []}
    with (
        tempfile.TemporaryDirectory(prefix="fr-bench-redis-") as tmp,
        redis_server(Path(tmp), args.redis) as base,
    ):
        for _ in range(args.rounds):
            rates["embedded"].append(args.files / one_round(args.files, None))
            rates["redis"].append(args.files / one_round(args.files, f"{base}/14"))
    for name, values in rates.items():
        print(
            f"{name:9s} median {statistics.median(values):7.1f} files/s "
            f"(min {min(values):.1f}, max {max(values):.1f}, rounds {len(values)})"
        )
    ratio = statistics.median(rates["embedded"]) / statistics.median(rates["redis"])
    print(f"embedded/redis ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
