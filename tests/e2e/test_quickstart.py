"""The README's first command, `filerelay run --config examples/quickstart.yaml`: no servers."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.e2e.harness import Proc, clean_env

pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"


def test_quickstart_copies_inbox_to_outbox_with_no_servers(tmp_path):
    # given `filerelay run` on the embedded defaults, in an empty working directory
    env = clean_env()
    # (none of the developer's settings: only the harness's, which keeps run off port 8700)
    assert {k for k in env if k.startswith("FILERELAY_")} == {"FILERELAY_API_SERVE"}
    proc = Proc(
        "run",
        [sys.executable, "-m", "filerelay", "run", "--config", str(QUICKSTART)],
        env,
        tmp_path,
        tmp_path / "run.log",
    ).start()
    try:
        proc.wait_log("watcher_ready", 90)
        proc.wait_log("ready", 90)
        # when a file is dropped into ./inbox (created by the source's `create: true`)
        data = os.urandom(10_000)
        start = time.monotonic()
        (tmp_path / "inbox" / "sub").mkdir(parents=True)
        (tmp_path / "inbox" / "sub" / "hello.bin").write_bytes(data)
        # then it appears in ./outbox with the same relative path and bytes
        target = tmp_path / "outbox" / "sub" / "hello.bin"
        wait_for(lambda: target.exists() and target.read_bytes() == data, 60, what=str(target))
        latency = time.monotonic() - start
        print(f"quickstart latency: {latency:.2f}s (silence 1s)")
        # and the embedded store recorded it as succeeded
        assert (tmp_path / ".filerelay" / "filerelay.db").exists()
    except BaseException:
        print(proc.log()[-8000:])
        raise
    finally:
        proc.stop()
    assert "Traceback" not in proc.log()


LOG_LINE = re.compile(r"^\S+Z \[(\w+)\s*\] (\S+)")
FILES = 40


def log_lines(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The (level, event) of each structured line, and every other line (banners, raw
    warnings). Celery's SecurityWarning about running as root is a Python warning, printed
    only to root: left out."""
    parsed, other, in_root_warning = [], [], False
    for line in text.splitlines():
        if "SecurityWarning: You're running the worker with superuser" in line:
            in_root_warning = True
        if in_root_warning:
            in_root_warning = "_warn_or_raise_security_error" not in line
            continue
        if m := LOG_LINE.match(line):
            parsed.append((m.group(1), m.group(2)))
        elif line.strip():
            other.append(line)
    return parsed, other


def test_quickstart_says_one_line_per_process_and_one_line_per_file(tmp_path):
    # given `filerelay run` on the quickstart config, at the default log level
    proc = Proc(
        "run",
        [sys.executable, "-m", "filerelay", "run", "--config", str(QUICKSTART)],
        clean_env(),
        tmp_path,
        tmp_path / "run.log",
    ).start()
    try:
        proc.wait_log("watcher_ready", 90)
        proc.wait_log("worker_ready", 90)
        ready = next(line for line in proc.log().splitlines() if " worker_ready " in line)
        assert " pool=prefork " in ready, ready
        processes = int(re.findall(r" concurrency=(\d+) ", ready)[0])
        # each pool process says once that it has prepared its steps
        wait_for(lambda: proc.log().count("warmed_up") == processes, 90, what="warmed_up")
        started, other = log_lines(proc.log())
        # then start-up is one line per component, saying what it watches / where it delivers
        # (and, where the /proc writer check cannot see every process, one warning saying so),
        # and one line per pool process
        events = sorted(e for _, e in started if e != "watcher.writer_check_partial")
        expected = sorted(["watcher_ready", "worker_ready"] + ["warmed_up"] * processes)
        assert other == [] and events == expected, (started, other)
        assert "watching={'inbox': '" in proc.log() and "routes={'to-outbox': 'copy'}" in proc.log()
        # when FILES files are written
        (tmp_path / "inbox").mkdir(exist_ok=True)
        for i in range(FILES):
            (tmp_path / "inbox" / f"f{i}.txt").write_text(str(i))
        wait_for(lambda: proc.log().count("event_finished") == FILES, 60, what=f"{FILES} events")
        lines, other = log_lines(proc.log())
        after = lines[len(started) :]
        # then each file cost one INFO line, its outcome (plus at most a watcher summary)
        print(f"{len(after)} log lines for {FILES} files: {sorted(set(e for _, e in after))}")
        assert other == [], other
        assert [e for _, e in after].count("event_finished") == FILES
        assert len(after) <= FILES + 2, after
    except BaseException:
        print(proc.log()[-8000:])
        raise
    finally:
        proc.stop()
