"""The README's first command, `filerelay run --config examples/quickstart.yaml`: no servers."""

from __future__ import annotations

import os
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
    assert not any(k.startswith("FILERELAY_") for k in env)
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
