"""Hot reload through real processes: a changed config is picked up by the watcher and the
worker; a bad one is refused with its errors logged, and the old rules keep working."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from tests.conftest import wait_for
from tests.e2e.harness import Relay

pytestmark = pytest.mark.slow

V1 = """\
sources:
  - {{name: one, path: "{one}", silence: 300ms}}
routes:
  - name: copy
    steps: [{{copy: {{to: "{out}/v1/{{source}}/{{relpath}}"}}}}]
"""
V2 = """\
sources:
  - {{name: one, path: "{one}", silence: 300ms}}
  - {{name: two, path: "{two}", silence: 300ms}}
routes:
  - name: copy
    steps: [{{copy: {{to: "{out}/v2/{{source}}/{{relpath}}"}}}}]
"""
BAD = """\
sources:
  - {name: one, path: /nonexistent}
routes:
  - name: copy
    steps: [{cpy: {}}]
"""


@pytest.fixture
def relay(tmp_path, redis_url) -> Iterator[Relay]:
    dirs = {k: tmp_path / k for k in ("one", "two", "out")}
    for d in dirs.values():
        d.mkdir()
    relay = Relay(tmp_path, V1.format(**dirs), broker_url=redis_url)
    relay.dirs = dirs  # type: ignore[attr-defined]
    try:
        yield relay
    except BaseException:
        print(relay.logs())
        raise
    finally:
        relay.stop()


def rewrite(relay: Relay, text: str) -> None:
    relay.config.write_text(text)
    st = relay.config.stat()
    os.utime(relay.config, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_config_changes_are_picked_up_and_bad_ones_refused(relay):
    d = relay.dirs
    worker = relay.start_worker(concurrency=1)
    watcher = relay.start_watcher()
    (d["one"] / "a.txt").write_text("a")
    wait_for(lambda: (d["out"] / "v1/one/a.txt").exists(), 60, what="v1 copy")

    # when the config gains a source and changes the route
    mark, mark_k = len(watcher.log()), len(worker.log())
    rewrite(relay, V2.format(**d))
    watcher.wait_log("sources_changed", 30, after=mark)
    watcher.wait_log("watcher_ready", 60, after=mark)
    worker.wait_log("config_reloaded", 30, after=mark_k)  # its one process noticed
    (d["one"] / "b.txt").write_text("b")
    (d["two"] / "c.txt").write_text("c")
    # then both sources are watched and the worker runs the new route
    wait_for(lambda: (d["out"] / "v2/one/b.txt").exists(), 60, what="v2 copy from one")
    wait_for(lambda: (d["out"] / "v2/two/c.txt").exists(), 60, what="v2 copy from two")

    # when a bad config is written (and the watcher is told with SIGHUP)
    mark_w, mark_k = len(watcher.log()), len(worker.log())
    rewrite(relay, BAD)
    assert watcher.proc is not None
    os.kill(watcher.proc.pid, signal.SIGHUP)
    watcher.wait_log("config_reload_refused", 30, after=mark_w)
    assert "unknown action 'cpy'" in watcher.log()[mark_w:]
    # then the old rules keep working, and the worker refuses the file too
    (d["two"] / "d.txt").write_text("d")
    wait_for(lambda: (d["out"] / "v2/two/d.txt").exists(), 60, what="copy under the old rules")
    worker.wait_log("config_reload_refused", 30, after=mark_k)
    assert watcher.proc.poll() is None and worker.proc is not None and worker.proc.poll() is None
