"""A writer of another user (issue 12): the watcher runs as user A, ``curl`` as user B downloads
from a server that pauses mid-body. The /proc writer check cannot see B's descriptors; the file
must still be emitted once, whole.

Real users (``useradd``), a real watcher process and a real ``curl``; the server's pause is the
writer's pace, five silence windows long.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import stop_process, wait_for
from tests.watcher.users import User, system_users

REPO = Path(__file__).resolve().parents[2]
HALF = 1 << 20
PAUSE_S = 1.5  # the server's stall mid-body: five silence windows (the watcher's is 300 ms)


class PausingHandler(BaseHTTPRequestHandler):
    """Serves 2 MiB: the first half, a pause of PAUSE_S, then the rest."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(2 * HALF))
        self.end_headers()
        self.wfile.write(b"a" * HALF)
        self.wfile.flush()
        time.sleep(PAUSE_S)  # the stalled download, not an assertion
        self.wfile.write(b"b" * HALF)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), PausingHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/big.bin"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def users() -> Iterator[list[User]]:
    if not shutil.which("curl"):
        pytest.skip("needs curl")
    with system_users(2) as made:
        yield made


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory both users can reach (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="frusers-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_watcher(base: Path, user: User, *options: str) -> tuple[subprocess.Popen[bytes], Path]:
    """The watcher as ``user``: inbox writable by all (sticky), state owned by ``user``."""
    inbox, state = base / "inbox", base / "state"
    inbox.mkdir(mode=0o1777)
    inbox.chmod(0o1777)
    state.mkdir()
    os.chown(state, user.uid, user.gid)
    log = (base / "watcher.log").open("wb")
    argv = [sys.executable, "-u", "-m", "tests.watcher.watch_process"]
    argv += [str(inbox), str(state), str(state / "events.jsonl"), *options]
    proc = subprocess.Popen(
        [*user.prefix(), *argv],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "HOME": str(base)},
        cwd=base,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        wait_for(lambda: ready(proc, base), 60, what="watcher ready")
    except BaseException:
        stop_process(proc)  # a watcher that never got ready is stopped all the same
        raise
    return proc, state / "events.jsonl"


def ready(proc: subprocess.Popen[bytes], base: Path) -> bool:
    text = (base / "watcher.log").read_text(errors="replace")
    if proc.poll() is not None:
        raise AssertionError(f"watcher exited {proc.returncode}:\n{text}")
    return "watcher.ready" in text


def events_of(out: Path, relpath: str) -> list[dict[str, object]]:
    if not out.exists():
        return []
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["relpath"] == relpath]


def download_as(user: User, url: str, dest: Path) -> None:
    curl = subprocess.Popen(
        [*user.prefix(), "curl", "-sS", "-o", str(dest), url], start_new_session=True
    )
    try:
        assert curl.wait(timeout=60) == 0
    finally:
        stop_process(curl)


@pytest.mark.slow  # real processes of two users, a stalling download
@pytest.mark.parametrize("observer", ["native", "polling"])
def test_a_download_by_another_user_pausing_mid_body_is_emitted_once_whole(
    users: list[User], base: Path, server: str, observer: str
) -> None:
    watcher_user, writer_user = users
    options = ["--observer", observer, "--open-timeout", "4"]
    watcher, out = start_watcher(base, watcher_user, *options)
    try:
        log = (base / "watcher.log").read_text()
        assert log.count("watcher.writer_check_partial") == 1  # said once, at start-up

        # when user B downloads a file whose server stalls mid-body
        download_as(writer_user, server, base / "inbox" / "big.bin")
        (base / "inbox" / "after.txt").write_bytes(b"written after the download")

        # then the file is emitted once, with every byte
        wait_for(lambda: events_of(out, "after.txt"), 60, what="the later file emitted")
        wait_for(lambda: events_of(out, "big.bin"), 60, what="the download emitted")
        assert [e["size"] for e in events_of(out, "big.bin")] == [2 * HALF]
    finally:
        stop_process(watcher)
    assert [e["size"] for e in events_of(out, "big.bin")] == [2 * HALF]
