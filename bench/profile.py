"""CPU profile of the worker (all its processes) during one burst, as a flame graph.

    python -m bench.profile {copy,s3} [--files 1000] [--format flamegraph|speedscope|raw]
                            [--out PATH] [--idle | --gil]

Starts a private Redis (and SeaweedFS for ``s3``), a ``filerelay worker -C 2`` and a watcher
as the scenarios do, attaches ``py-spy record --subprocesses`` to the worker, drops the burst
of small_files, and stops py-spy once every event succeeded. py-spy (PyPI ``py-spy``) needs
ptrace: root, or ``kernel.yama.ptrace_scope=0``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import pipelines, servers
from bench.files import Burst
from bench.harness import Relay

PROFILES = Path(__file__).resolve().parent / "profiles"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("route", choices=["copy", "s3"])
    parser.add_argument("--files", type=int, default=1000)
    formats = ["flamegraph", "speedscope", "raw"]  # raw: collapsed stacks, one line each
    parser.add_argument("--format", choices=formats, default="flamegraph")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--idle", action="store_true", help="sample waiting threads too")
    parser.add_argument(
        "--gil", action="store_true", help="only the thread holding the GIL: Python's CPU"
    )
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    suffix = {"flamegraph": "svg", "speedscope": "speedscope.json", "raw": "txt"}[args.format]
    out = args.out or PROFILES / f"{args.route}.{suffix}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fr-profile-") as tmp:
        root = Path(tmp)
        with servers.redis_server(root / "redis", None) as redis_base:
            broker = servers.redis_db(redis_base, 12)
            if args.route == "s3":
                weed = servers.ensure_tools().get("weed")
                assert weed is not None
                with servers.seaweedfs(weed, root / "weed") as s3:
                    bucket = s3.make_bucket("profile")
                    inbox = root / "in"
                    inbox.mkdir()
                    config = pipelines.s3_config(inbox, bucket)
                    _profile(Relay(root, config, broker, s3.env()), inbox, args, spy, out)
            else:
                inbox = root / "in"
                inbox.mkdir()
                config = pipelines.copy_config(inbox, root / "out")
                _profile(Relay(root, config, broker), inbox, args, spy, out)
    print(out)
    return 0


def _profile(relay: Relay, inbox: Path, args: argparse.Namespace, spy: str, out: Path) -> None:
    burst = Burst(args.files)
    with relay:
        pipelines.start(relay)
        spies = []
        for proc in relay.procs:  # the worker (with its pool processes), then the watcher
            target = out.with_name(f"{proc.name}-{out.name}")
            record = [spy, "record", "--subprocesses", "--nonblocking", "--rate", "200"]
            record += ["--format", args.format, "--output", str(target), "--pid", str(proc.pid)]
            record += ["--idle"] if args.idle else []
            record += ["--gil"] if args.gil else []
            spies.append(subprocess.Popen(record, stdout=subprocess.DEVNULL))
        try:
            started = burst.write(inbox, burst.payloads())
            last = pipelines.wait_done(relay, burst.files, timeout_s=60 + burst.files * 0.5)
            print(f"{burst.files / (last - started):.1f} files/s under py-spy", file=sys.stderr)
            _stages(relay, started)
        finally:
            for spying in spies:
                os.kill(spying.pid, signal.SIGINT)
                spying.wait(60)


def _stages(relay: Relay, started: float) -> None:
    """When the files were detected, recorded and finished, after the first write (s)."""
    rows = relay.sql("SELECT detected_at, created_at, updated_at FROM file_events")
    for name, column in (("detected", 0), ("recorded", 1), ("finished", 2)):
        times = sorted(pipelines._unix(row[column]) - started for row in rows)
        print(
            f"{name}: first {times[0]:.2f} s, median {times[len(times) // 2]:.2f} s, "
            f"last {times[-1]:.2f} s",
            file=sys.stderr,
        )


if __name__ == "__main__":
    sys.exit(main())
