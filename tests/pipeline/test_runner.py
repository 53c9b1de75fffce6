"""The runner without Celery: ingest, steps, parallel groups, time windows, rule versions.

Real store (SQLite file), real actions on real files; messages are driven by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from filerelay.actions.base import Action
from filerelay.actions.registry import BUILTIN_ACTIONS, Registry
from filerelay.errors import PermanentError
from filerelay.model import FileEvent
from filerelay.pipeline.runner import Outcome, ingest, run_step
from filerelay.pipeline.runtime import build_runtime
from filerelay.settings import load_settings
from tests.conftest import migrated_sqlite
from tests.factories import event_of_file


def make_event(root: Path, relpath: str, data: bytes = b"data") -> FileEvent:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return event_of_file(path, root, source="in")


def drain(runtime, outcome: Outcome, limit: int = 50) -> list[int]:
    """Run every enqueued step (ignoring countdowns) until nothing is left; the step ids run."""
    ran: list[int] = []
    queue = list(outcome.enqueue)
    while queue and len(ran) < limit:
        msg = queue.pop(0)
        ran.append(msg.step_id)
        queue += run_step(runtime, msg.step_id).enqueue
    return ran


@pytest.fixture
def env(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    cfg = tmp_path / "rules.yaml"

    def write(routes: str) -> None:
        cfg.write_text(f'sources:\n  - {{name: in, path: "{inbox}"}}\nroutes:\n{routes}')
        st = cfg.stat()  # make the change visible even within one mtime tick
        os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    def runtime():
        settings = load_settings(
            config=cfg,
            state_dir=tmp_path / "state",
            database_url=migrated_sqlite(tmp_path / "s.db"),
        )
        return build_runtime(settings)

    return inbox, tmp_path / "out", write, runtime


def test_parallel_group_runs_all_children_then_the_next_step(env):
    inbox, out, write, runtime = env
    write(
        "  - name: r\n    steps:\n"
        f'      - parallel:\n          - copy: {{to: "{out}/a/{{relpath}}"}}\n'
        f'          - copy: {{to: "{out}/b/{{relpath}}"}}\n            name: second\n'
        f'      - move: {{to: "{out}/moved/{{relpath}}"}}\n'
    )
    rt = runtime()
    ev = make_event(inbox, "x/f.txt")
    first = ingest(rt, ev)
    assert len(first.enqueue) == 2  # both children of the parallel group at once
    drain(rt, first)
    assert (out / "a/x/f.txt").read_bytes() == b"data"
    assert (out / "b/x/f.txt").read_bytes() == b"data"
    assert (out / "moved/x/f.txt").exists() and not (inbox / "x/f.txt").exists()
    steps = rt.store.steps_of(rt.store.pipelines_of(ev.event_id)[0].id)
    assert [(s.position, s.branch, s.name, s.status) for s in steps] == [
        (0, 0, "0.0-copy", "succeeded"),
        (0, 1, "second", "succeeded"),
        (1, 0, "1-move", "succeeded"),
    ]
    assert rt.store.get_event(ev.event_id).state == "succeeded"


def test_a_duplicate_step_message_does_nothing(env):
    inbox, out, write, runtime = env
    write(f'  - name: r\n    steps:\n      - copy: {{to: "{out}/{{relpath}}"}}\n')
    rt = runtime()
    ev = make_event(inbox, "f.txt")
    msg = ingest(rt, ev).enqueue[0]
    assert run_step(rt, msg.step_id).enqueue == []
    (out / "f.txt").unlink()
    assert run_step(rt, msg.step_id).enqueue == []  # redelivered: claims nothing
    assert not (out / "f.txt").exists()
    assert ingest(rt, ev).enqueue == []  # a redelivered ingest of a finished event


def test_pipeline_finishes_with_the_rules_it_started_with(env):
    inbox, out, write, runtime = env
    write(
        "  - name: r\n    steps:\n"
        f'      - copy: {{to: "{out}/v1-first/{{relpath}}"}}\n'
        f'      - copy: {{to: "{out}/v1-second/{{relpath}}"}}\n'
    )
    rt = runtime()
    ev = make_event(inbox, "f.txt")
    first = ingest(rt, ev)
    after_first = run_step(rt, first.enqueue[0].step_id)
    # when the rules change between the two steps of a running pipeline
    write(f'  - name: r\n    steps:\n      - copy: {{to: "{out}/v2/{{relpath}}"}}\n')
    assert rt.maybe_reload()
    drain(rt, after_first)
    # then the pipeline finished with v1, and a new file gets v2
    assert (out / "v1-second/f.txt").exists() and not (out / "v2").exists()
    drain(rt, ingest(rt, make_event(inbox, "g.txt")))
    assert (out / "v2/g.txt").exists()


def test_a_bad_config_is_refused_on_reload_and_the_old_rules_stay(env):
    inbox, out, write, runtime = env
    write(f'  - name: r\n    steps:\n      - copy: {{to: "{out}/{{relpath}}"}}\n')
    rt = runtime()
    old = rt.rules.sha256
    write("  - name: r\n    steps:\n      - cpy: {}\n")
    assert not rt.maybe_reload()
    assert rt.rules.sha256 == old
    drain(rt, ingest(rt, make_event(inbox, "f.txt")))
    assert (out / "f.txt").exists()


def test_a_closed_time_window_delays_the_first_step(env):
    inbox, out, write, runtime = env
    write(
        "  - name: r\n    when: {time: {between: '00:00-00:01', tz: UTC}}\n    steps:\n"
        f'      - copy: {{to: "{out}/{{relpath}}"}}\n'
    )
    rt = runtime()
    ev = make_event(inbox, "f.txt")
    msg = ingest(rt, ev).enqueue[0]
    # outside the window (unless this runs in the first minute of a UTC day)
    if msg.countdown_s == 0:
        pytest.skip("ran inside the window")
    assert msg.countdown_s > 0
    again = run_step(rt, msg.step_id)  # an early delivery is sent again for later
    assert again.enqueue and again.enqueue[0].countdown_s > 0
    assert not (out / "f.txt").exists()


def test_no_matching_route_records_skipped_with_the_reason(env):
    inbox, out, write, runtime = env
    write(f'  - name: r\n    when: {{ext: csv}}\n    steps:\n      - copy: {{to: "{out}/x"}}\n')
    rt = runtime()
    ev = make_event(inbox, "f.txt")
    assert ingest(rt, ev).enqueue == []
    row = rt.store.get_event(ev.event_id)
    assert (row.state, row.reason) == ("skipped", "no route matched")


def test_a_failed_step_undoes_completed_steps_then_runs_on_failure(env):
    inbox, out, write, runtime = env
    write(
        "  - name: r\n    steps:\n"
        f'      - copy: {{to: "{out}/copy/{{relpath}}"}}\n        name: backup\n'
        f'      - move: {{to: "{out}/taken/{{relpath}}"}}\n'
        "    on_failure:\n"
        f'      - move: {{to: "{out}/quarantine/{{relpath}}"}}\n'
    )
    rt = runtime()
    (out / "taken").mkdir(parents=True)
    (out / "taken/f.txt").write_text("someone else's file")  # the move will conflict
    ev = make_event(inbox, "f.txt")
    drain(rt, ingest(rt, ev))
    # the copy was undone, the file went to quarantine, the pipeline and the event failed
    assert not (out / "copy/f.txt").exists()
    assert (out / "quarantine/f.txt").read_bytes() == b"data"
    assert (out / "taken/f.txt").read_text() == "someone else's file"
    pipeline = rt.store.pipelines_of(ev.event_id)[0]
    assert pipeline.status == "failed" and pipeline.error.startswith("step 1-move:")
    steps = rt.store.steps_of(pipeline.id)
    assert [(s.name, s.phase, s.status) for s in steps] == [
        ("backup", "main", "succeeded"),
        ("1-move", "main", "failed"),
        ("undo-backup", "undo", "succeeded"),
        ("on_failure.0-move", "on_failure", "succeeded"),
    ]
    event = rt.store.get_event(ev.event_id)
    assert event.state == "failed" and "destination exists" in event.reason


class StampConfig(BaseModel):
    """Write a stamp file; its undo always fails."""

    model_config = ConfigDict(extra="forbid")
    to: str


class StampAction(Action[StampConfig]):
    name = "stamp"
    Config = StampConfig

    def run(self, ctx):
        Path(self.config.to).write_text(ctx.event.relpath)
        return {"path": self.config.to}

    def compensate(self, ctx, result):
        raise PermanentError("stamps cannot be taken back")


def test_a_failed_undo_ends_compensation_failed_and_on_failure_still_runs(env, tmp_path):
    inbox, out, write, _runtime = env
    write(
        "  - name: r\n    steps:\n"
        f'      - stamp: {{to: "{tmp_path}/stamp"}}\n'
        f'      - copy: {{to: "{out}/taken/{{relpath}}"}}\n'
        "    on_failure:\n"
        f'      - copy: {{to: "{out}/quarantine/{{relpath}}"}}\n'
        "defaults: {retry: {max_attempts: 1}}\n"
    )
    registry = Registry({**BUILTIN_ACTIONS, "stamp": StampAction})
    settings = load_settings(
        config=tmp_path / "rules.yaml",
        state_dir=tmp_path / "state",
        database_url=migrated_sqlite(tmp_path / "s.db"),
    )
    rt = build_runtime(settings, registry)
    (out / "taken").mkdir(parents=True)
    (out / "taken/f.txt").write_text("conflict")
    ev = make_event(inbox, "f.txt")
    drain(rt, ingest(rt, ev))
    pipeline = rt.store.pipelines_of(ev.event_id)[0]
    assert (out / "quarantine/f.txt").exists()  # on_failure ran after the failed undo
    assert pipeline.status == "compensation_failed"
    event = rt.store.get_event(ev.event_id)
    assert event.state == "failed" and "compensation failed" in event.reason


def test_the_first_step_runs_inside_the_ingest_when_its_timeout_fits_the_budget(env):
    inbox, out, write, runtime = env
    write(
        "  - name: r\n    steps:\n"
        f'      - copy: {{to: "{out}/a/{{relpath}}"}}\n'
        f'      - copy: {{to: "{out}/b/{{relpath}}"}}\n'
    )
    rt = runtime()
    ev = make_event(inbox, "f.txt")
    # when the ingest's time limit is the step's timeout (the default, 600 s)
    outcome = ingest(rt, ev, inline_budget_s=600.0)
    # then the first copy is done already, and only the second step is handed out
    assert (out / "a/f.txt").read_bytes() == b"data"
    assert not (out / "b/f.txt").exists()
    steps = rt.store.steps_of(rt.store.pipelines_of(ev.event_id)[0].id)
    assert [(s.status, s.attempts) for s in steps] == [("succeeded", 1), ("pending", 0)]
    assert [m.step_id for m in outcome.enqueue] == [steps[1].id]
    drain(rt, outcome)
    assert rt.store.get_event(ev.event_id).state == "succeeded"
    # a redelivered ingest of the same event hands out nothing and runs nothing again
    (out / "a/f.txt").unlink()
    assert ingest(rt, ev, inline_budget_s=600.0).enqueue == []
    assert not (out / "a/f.txt").exists()


def test_a_step_whose_timeout_is_not_the_ingest_limit_goes_through_the_broker(env):
    inbox, out, write, runtime = env
    write(
        "  - name: r\n    steps:\n"
        f'      - copy: {{to: "{out}/{{relpath}}"}}\n        timeout: 20m\n'
    )
    rt = runtime()
    ev = make_event(inbox, "f.txt")
    outcome = ingest(rt, ev, inline_budget_s=600.0)  # longer than the limit
    assert len(outcome.enqueue) == 1 and not (out / "f.txt").exists()
    assert outcome.enqueue[0].timeout_s == 1200.0
    shorter = ingest(rt, make_event(inbox, "g.txt"), inline_budget_s=3600.0)  # much shorter
    assert len(shorter.enqueue) == 1 and not (out / "g.txt").exists()
    drain(rt, outcome)
    assert (out / "f.txt").read_bytes() == b"data"


def test_an_inline_first_step_that_fails_for_good_fails_the_event_at_once(env):
    inbox, out, write, runtime = env
    (out / "f.txt").parent.mkdir(parents=True)
    (out / "f.txt").write_bytes(b"other")  # a conflict the copy refuses: permanent
    write(
        f'  - name: r\n    steps:\n      - copy: {{to: "{out}/{{relpath}}", on_conflict: fail}}\n'
    )
    rt = runtime()
    ev = make_event(inbox, "f.txt")
    assert ingest(rt, ev, inline_budget_s=600.0).enqueue == []
    event = rt.store.get_event(ev.event_id)
    assert event.state == "failed" and "destination exists" in event.reason


def test_other_routes_first_steps_are_sent_before_the_inline_step_runs(env):
    inbox, out, write, runtime = env
    write(
        f'  - name: a\n    steps:\n      - copy: {{to: "{out}/a/{{relpath}}"}}\n'
        f'  - name: b\n    steps:\n      - copy: {{to: "{out}/b/{{relpath}}"}}\n'
    )
    rt = runtime()
    ev = make_event(inbox, "f.txt")
    sent: list[tuple[list[int], bool]] = []

    def send(msgs):  # the inline copy to a/ has not run yet when b's step goes out
        sent.append(([m.step_id for m in msgs], (out / "a/f.txt").exists()))

    rest = ingest(rt, ev, inline_budget_s=600.0, send=send)
    [b_pipeline] = [p for p in rt.store.pipelines_of(ev.event_id) if p.route == "b"]
    [b_step] = rt.store.steps_of(b_pipeline.id)
    assert sent == [([b_step.id], False)]
    assert rest.enqueue == [] and (out / "a/f.txt").read_bytes() == b"data"


class Halted(Exception):
    """Stands for Celery's SoftTimeLimitExceeded, raised inside a step by its time limit."""


class HaltConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HaltAction(Action[HaltConfig]):
    name = "halt"
    Config = HaltConfig

    def run(self, ctx):
        raise Halted()


def test_a_step_stopped_by_the_task_layer_is_retried_with_one_warning(env, tmp_path):
    # given a runtime told that Halted is how the task layer stops a step
    inbox, _out, write, _runtime = env
    write("  - name: r\n    steps:\n      - halt: {}\n        timeout: 7\n")
    settings = load_settings(
        config=tmp_path / "rules.yaml",
        state_dir=tmp_path / "state",
        database_url=migrated_sqlite(tmp_path / "s.db"),
    )
    registry = Registry({**BUILTIN_ACTIONS, "halt": HaltAction})
    rt = build_runtime(settings, registry, interruptions=(Halted,))
    ev = make_event(inbox, "f.txt")
    # when the step is stopped
    retried = run_step(rt, ingest(rt, ev).enqueue[0].step_id)
    # then it goes back for another attempt, saying why in words (not as an unexpected
    # "Halted: " error, which is logged with its traceback)
    assert len(retried.enqueue) == 1
    [step] = rt.store.steps_of(rt.store.pipelines_of(ev.event_id)[0].id)
    assert step.status == "pending"
    assert step.last_error == "interrupted: time limit (7 s) reached or worker stopping"
