"""reprocess and submit without a broker: a recording app stands in for Celery, the real
runner and store run what it would have delivered."""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from filerelay.config.models import Source
from filerelay.errors import UsageError
from filerelay.model import FileEvent, StableSignal
from filerelay.ops.requeue import plan, reprocess, select, submitted_event
from filerelay.pipeline.runner import ingest
from filerelay.pipeline.runtime import build_runtime
from filerelay.settings import load_settings
from filerelay.store.listing import EventFilter
from filerelay.tasks.names import INGEST
from tests.conftest import migrated_sqlite
from tests.pipeline.test_runner import drain, make_event

ROUTE = '  - name: r\n    steps:\n      - copy: {{to: "{out}/{{relpath}}", on_conflict: {mode}}}\n'


@dataclass
class RecordingApp:
    """Celery's send_task, recorded."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    def producer_or_acquire(self) -> Any:
        return nullcontext(None)

    def send_task(self, name: str, **kw: Any) -> None:
        assert name == INGEST and "event_id=" in kw["argsrepr"]
        self.sent.append(kw)


def deliver(runtime: Any, message: dict[str, Any]) -> None:
    """Run an ingest message and every step it leads to."""
    event = FileEvent.from_message(message["args"][0])
    drain(runtime, ingest(runtime, event, message["kwargs"].get("rules")))


@pytest.fixture
def relay(tmp_path: Path) -> Any:
    inbox, out, cfg = tmp_path / "in", tmp_path / "out", tmp_path / "rules.yaml"
    inbox.mkdir()
    out.mkdir()

    def write(mode: str) -> None:
        route = ROUTE.format(out=out, mode=mode)
        cfg.write_text(f'sources:\n  - {{name: in, path: "{inbox}"}}\nroutes:\n{route}')
        st = cfg.stat()
        os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    write("fail")
    settings = load_settings(
        config=cfg, state_dir=tmp_path / "state", database_url=migrated_sqlite(tmp_path / "s.db")
    )
    runtime = build_runtime(settings)
    yield inbox, out, write, runtime
    runtime.close()


def test_failed_event_runs_again_with_the_same_or_the_current_rules(relay: Any) -> None:
    inbox, out, write, rt = relay
    store = rt.store
    # given an event that failed: its destination holds a different file, on_conflict: fail
    (out / "a.txt").write_bytes(b"other")
    event = make_event(inbox, "a.txt")
    drain(rt, ingest(rt, event))
    assert store.get_event(event.event_id).state == "failed"
    v1 = rt.rules.sha256
    # when the config is fixed (overwrite) and the event reprocessed with the same rules
    write("overwrite")
    assert rt.maybe_reload()
    app = RecordingApp()
    rows, out_ = plan(select(store, [event.event_id], None, None), force=False)
    reprocess(store, app, "q", rows, out_, same_rules=True)
    # then it is queued with the old rules' hash, and fails again under them
    assert out_.requeued == [event.event_id] and app.sent[0]["kwargs"] == {"rules": v1}
    assert store.get_event(event.event_id).state == "queued"
    deliver(rt, app.sent[0])
    assert store.get_event(event.event_id).state == "failed"
    # when reprocessed by state with the current rules
    rows, out_ = plan(select(store, [], EventFilter(state="failed"), None), force=False)
    reprocess(store, app, "q", rows, out_)
    deliver(rt, app.sent[1])
    # then it succeeds, and its history holds three runs with the rules each one used
    assert store.get_event(event.event_id).state == "succeeded"
    assert (out / "a.txt").read_bytes() == b"data"
    runs = store.timeline(event.event_id)
    assert [(r.run, r.status, r.config_hash) for r in runs] == [
        (1, "failed", v1),
        (2, "failed", v1),
        (3, "succeeded", rt.rules.sha256),
    ]


def test_force_runs_a_succeeded_event_again_as_a_new_event(relay: Any) -> None:
    inbox, out, _write, rt = relay
    event = make_event(inbox, "b.txt")
    drain(rt, ingest(rt, event))
    assert rt.store.get_event(event.event_id).state == "succeeded"
    # without --force it is left alone, and says why
    _rows, out_ = plan(select(rt.store, [event.event_id], None, None), force=False)
    assert out_.left == [(event.event_id, "succeeded (use --force to run it again)")]
    # with --force it becomes a new event outside the dedup record, and runs
    (out / "b.txt").unlink()
    app = RecordingApp()
    rows, out_ = plan(select(rt.store, [event.event_id], None, None), force=True)
    reprocess(rt.store, app, "q", rows, out_)
    ((old, new),) = out_.renewed
    deliver(rt, app.sent[0])
    fresh = rt.store.get_event(new)
    assert old == event.event_id and fresh.state == "succeeded"
    assert fresh.dedup_key.endswith(f":manual:{new}") and fresh.stable_signal == "manual"
    assert (out / "b.txt").read_bytes() == b"data"


def test_submit_builds_a_manual_event_and_refuses_paths_outside_every_source(
    tmp_path: Path,
) -> None:
    (tmp_path / "in" / "d").mkdir(parents=True)
    (tmp_path / "in" / "d" / "x.bin").write_bytes(b"12345")
    sources = [Source(name="in", path=tmp_path / "in")]
    event = submitted_event(sources, str(tmp_path / "in" / "d" / "x.bin"))
    assert (event.source, event.relpath, event.size) == ("in", "d/x.bin", 5)
    assert event.stable_signal == StableSignal.MANUAL
    assert event.dedup_key.endswith(f":manual:{event.event_id}")
    with pytest.raises(UsageError, match="outside every source"):
        submitted_event(sources, str(tmp_path / "elsewhere.bin"))
    with pytest.raises(UsageError, match="No such file"):
        submitted_event(sources, str(tmp_path / "in" / "nope.bin"))


@pytest.mark.parametrize(
    ("plant", "why"),
    [
        ("file", r"x\.bin: it is a symbolic link"),
        ("dir", r"in/d: it is a symbolic link, not a directory"),
        ("fifo", r"it is a FIFO, not a regular file"),
    ],
)
def test_submit_refuses_links_and_fifos_an_uploader_planted(
    tmp_path: Path, plant: str, why: str
) -> None:
    secret_dir = tmp_path / "private"
    secret_dir.mkdir()
    (secret_dir / "x.bin").write_bytes(b"secret")
    (tmp_path / "in" / "d").mkdir(parents=True)
    target = tmp_path / "in" / "d" / "x.bin"
    if plant == "file":
        target.symlink_to(secret_dir / "x.bin")
    elif plant == "dir":
        (tmp_path / "in" / "d").rmdir()
        (tmp_path / "in" / "d").symlink_to(secret_dir)
    else:
        os.mkfifo(target)
    sources = [Source(name="in", path=tmp_path / "in")]
    with pytest.raises(UsageError, match=why):
        submitted_event(sources, str(target))
