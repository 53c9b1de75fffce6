"""Idle memory of ``filerelay run -C 2`` on the embedded defaults (SQLite store, filesystem
broker, the quickstart's copy route, the API served), summed over its process tree.

``python -m bench.memory`` starts it in a fresh temporary directory (so its first start, which
creates the store), waits until the watcher and the worker are ready and the tree's RSS has
held still for ``--settle`` seconds, then prints RSS, USS and PSS (MiB) of every process and
their sums, and the 1-minute load; ``--files N`` measures idle again after copying N files.
A pool process is forked from the worker: RSS counts the pages they share once in each, USS
only a process's own, PSS shares them out.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.harness import clean_env

MIB = 1024 * 1024
READY = ("watcher_ready", "worker_ready")


def _role(proc: psutil.Process, root_pid: int) -> str:
    if proc.pid == root_pid:
        return "run"
    return "worker" if proc.ppid() == root_pid else "pool"


Row = tuple[str, int, dict[str, int]]
KINDS = ("rss", "uss", "pss")


def measure(concurrency: int, settle_s: float, serve: bool, files: int = 0) -> list[Row]:
    """The memory of each process of an idle ``filerelay run``: (role, pid, rss/uss/pss);
    with ``files``, idle again after copying that many files."""
    with tempfile.TemporaryDirectory(prefix="filerelay-mem-") as tmp:
        root = Path(tmp)
        (root / "inbox").mkdir()
        config = root / "rules.yaml"
        config.write_text(
            "sources:\n  - {name: inbox, path: ./inbox, silence: 1s}\n"
            "routes:\n  - name: to-outbox\n    steps:\n"
            '      - copy: {to: "./outbox/{relpath}", on_conflict: overwrite}\n'
        )
        env = clean_env(
            FILERELAY_STATE_DIR=str(root / "state"),
            FILERELAY_API_PORT=str(_free_port()),
            FILERELAY_LOG_FORMAT="console",
        )
        argv = [sys.executable, "-m", "filerelay", "run", "--config", str(config)]
        argv += ["-C", str(concurrency)] + ([] if serve else ["--no-serve"])
        log = root / "run.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_ready(log, proc, 120.0)
            if files:
                _copy_files(root, files)
            _wait_idle(proc.pid, concurrency, settle_s)
            return _sample(proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(log: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if all(word in text for word in READY):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"filerelay run exited {proc.returncode}:\n{text}")
        time.sleep(0.2)
    raise RuntimeError(f"not ready in {timeout_s:g} s:\n{log.read_text(errors='replace')}")


def _copy_files(root: Path, files: int) -> None:
    for n in range(files):
        (root / "inbox" / f"f{n:05d}.bin").write_bytes(os.urandom(4096))
    deadline = time.monotonic() + 60 + files * 0.5
    while time.monotonic() < deadline:
        if sum(1 for _ in (root / "outbox").glob("*.bin")) == files:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{files} files were not copied in time")


def _wait_idle(root_pid: int, concurrency: int, settle_s: float) -> None:
    """Until the pool's processes exist and the tree's summed RSS has stayed within 1 MiB
    for ``settle_s``."""
    deadline = time.monotonic() + 120.0
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        tree = _tree(root_pid)
        rss = sum(p.memory_info().rss for p in tree)
        if len(tree) < concurrency + 2 or abs(rss - last) > MIB:
            last, since = rss, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            return
        time.sleep(0.5)
    raise RuntimeError("the process tree did not settle")


def _tree(root_pid: int) -> list[psutil.Process]:
    root = psutil.Process(root_pid)
    return [root, *root.children(recursive=True)]


def _sample(root_pid: int) -> list[Row]:
    rows = []
    for proc in _tree(root_pid):
        info = proc.memory_full_info()
        rows.append((_role(proc, root_pid), proc.pid, {k: getattr(info, k) for k in KINDS}))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("-C", "--concurrency", type=int, default=2)
    parser.add_argument("--settle", type=float, default=5.0, help="idle seconds before sampling")
    parser.add_argument("--no-serve", action="store_true", help="run without the HTTP API")
    parser.add_argument("--files", type=int, default=0, help="copy this many files first")
    args = parser.parse_args()
    rows = measure(args.concurrency, args.settle, not args.no_serve, args.files)
    print(f"{'process':<8} {'pid':>7} {'RSS':>7} {'USS':>7} {'PSS':>7}  (MiB)")
    for role, pid, mem in rows:
        print(f"{role:<8} {pid:>7} " + " ".join(f"{mem[k] / MIB:7.1f}" for k in KINDS))
    sums = {k: sum(m[k] for _, _, m in rows) for k in KINDS}
    print(f"{'sum':<8} {'':>7} " + " ".join(f"{sums[k] / MIB:7.1f}" for k in KINDS))
    print(f"load (1 min): {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
