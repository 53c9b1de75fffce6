"""Hot reload through real processes: a changed config is picked up by the watcher and the
worker; a bad one is refused with its errors logged, and the old rules keep working."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from tests.conftest import wait_for
from tests.e2e.harness import Relay, running

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
    with running(relay):
        yield relay


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


HOSTILE = {
    "tag": "sources: !foo [{name: one, path: /x}]\nroutes: []\n",
    "python tag": "sources:\n  - !!python/object/apply:os.system ['true']\nroutes: []\n",
    "billion laughs": "a: &a [l, l, l, l, l, l, l, l, l]\n"
    + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcde", "bcdef", strict=True)
    ),
    "nan": "sources:\n  - {name: one, path: /x, silence: .nan}\nroutes: []\n",
    "absurd interval": "sources:\n  - {name: one, path: /x, poll_interval: 0}\nroutes: []\n",
    "not utf-8": "sources: [\xff]\n",
    "over the size limit": "#" * (4 * 1024 * 1024 + 1),
}


def test_run_refuses_every_kind_of_bad_config_and_keeps_the_old_rules(relay):
    # given `filerelay run` (watcher, reconciler and worker) delivering under V1
    d = relay.dirs
    run = relay._proc("run", "run").start()
    run.wait_log("watcher_ready", 90)
    (d["one"] / "first.txt").write_text("x")
    wait_for(lambda: (d["out"] / "v1/one/first.txt").exists(), 60, what="v1 copy")
    for i, (kind, text) in enumerate(HOSTILE.items()):
        # when a bad config of this kind is written while it runs
        mark = len(run.log())
        if kind == "not utf-8":
            relay.config.write_bytes(text.encode("latin-1"))
            st = relay.config.stat()
            os.utime(relay.config, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        else:
            rewrite(relay, text)
        # then the refusal is logged in one line, and a new file is delivered by the old rules
        run.wait_log("config_reload_refused", 30, after=mark)
        (d["one"] / f"after-{i}.txt").write_text(kind)
        delivered = d["out"] / f"v1/one/after-{i}.txt"
        wait_for(delivered.exists, 60, what=kind)
        refusals = [ln for ln in run.log()[mark:].splitlines() if "config_reload_refused" in ln]
        assert refusals and all("Traceback" not in ln for ln in refusals), kind
        assert run.proc is not None and run.proc.poll() is None, kind
    assert "Traceback" not in run.log()
