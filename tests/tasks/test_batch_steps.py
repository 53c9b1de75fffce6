"""An ingest batch's first steps: those whose action may run side by side are performed in
threads at once, the others one after the other; the successes are recorded together, each
file with its own rows, a failure retried alone. Real store (SQLite file), real files; the
task is driven by hand (no broker)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from filerelay.actions.base import Action, ActionContext
from filerelay.actions.registry import BUILTIN_ACTIONS, Registry
from filerelay.errors import RetryableError
from filerelay.pipeline.messages import StepMessage
from filerelay.pipeline.runtime import Runtime, build_runtime
from filerelay.settings import load_settings
from filerelay.tasks.batch import THREADS, run_batch
from tests.factories import event_of_file

INLINE_S = 30.0
PAUSE_S = 0.3


class WaitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    side_by_side: bool = True


class WaitAction(Action[WaitConfig]):
    """Waits on a 'peer' for PAUSE_S; fails (retryably) for a file named bad*."""

    name = "wait"
    Config = WaitConfig
    running: ClassVar[int] = 0
    most: ClassVar[int] = 0
    threads: ClassVar[set[str]] = set()
    lock = threading.Lock()

    def concurrent(self, ctx: ActionContext) -> bool:
        return self.config.side_by_side

    def run(self, ctx: ActionContext) -> dict[str, Any]:
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.most = max(cls.most, cls.running)
            cls.threads.add(threading.current_thread().name)
        try:
            time.sleep(PAUSE_S)
        finally:
            with cls.lock:
                cls.running -= 1
        if Path(ctx.path).name.startswith("bad"):
            raise RetryableError("the peer said no")
        return {"relpath": ctx.event.relpath}


@pytest.fixture(autouse=True)
def _fresh_counts():
    WaitAction.running, WaitAction.most, WaitAction.threads = 0, 0, set()


def runtime_for(tmp_path: Path, side_by_side: bool) -> tuple[Runtime, Path]:
    inbox = tmp_path / "in"
    inbox.mkdir()
    cfg = tmp_path / "rules.yaml"
    cfg.write_text(
        f'sources:\n  - {{name: in, path: "{inbox}"}}\n'
        "routes:\n  - name: r\n    steps:\n"
        f"      - wait: {{side_by_side: {str(side_by_side).lower()}}}\n"
        f"        timeout: {INLINE_S:g}s\n"
    )
    settings = load_settings(
        config=cfg, state_dir=tmp_path / "state", database_url=f"sqlite:///{tmp_path}/s.db"
    )
    return build_runtime(settings, Registry({**BUILTIN_ACTIONS, "wait": WaitAction})), inbox


def batch_of(inbox: Path, names: list[str]) -> list[dict[str, Any]]:
    messages = []
    for name in names:
        path = inbox / name
        path.write_bytes(name.encode())
        messages.append(event_of_file(path, inbox, source="in").to_message())
    return messages


def run(runtime: Runtime, messages: list[dict[str, Any]]) -> list[StepMessage]:
    sent: list[StepMessage] = []
    task = SimpleNamespace(request=SimpleNamespace(retries=0))
    holder = SimpleNamespace(get=lambda: runtime)
    run_batch(task, holder, messages, INLINE_S, sent.extend)  # type: ignore[arg-type]
    return sent


def states(runtime: Runtime, messages: list[dict[str, Any]]) -> dict[str, tuple[str, str, int]]:
    """Per file: its event's state, its one step's status and attempts."""
    seen: dict[str, tuple[str, str, int]] = {}
    for message in messages:
        event = runtime.store.get_event(message["event_id"])
        assert event is not None
        (pipeline,) = runtime.store.pipelines_of(event.id)
        (step,) = runtime.store.steps_of(pipeline.id)
        seen[event.relpath] = (str(event.state), str(step.status), step.attempts)
    return seen


def test_a_batchs_side_by_side_steps_run_at_once_and_each_file_keeps_its_rows(tmp_path):
    # given a route whose one step may run beside others, and a batch of 8 files, one bad
    runtime, inbox = runtime_for(tmp_path, side_by_side=True)
    names = [f"f{i}.bin" for i in range(7)] + ["bad.bin"]
    messages = batch_of(inbox, names)
    # when the batch runs
    sent = run(runtime, messages)
    # then the steps ran at once, in threads
    assert WaitAction.most == min(len(names), THREADS)
    assert WaitAction.threads and "MainThread" not in WaitAction.threads
    # and every good file succeeded with its own step, run once; the bad one is retried
    # alone (its step pending again, its message sent with a countdown)
    seen = states(runtime, messages)
    assert {seen[n] for n in names[:-1]} == {("succeeded", "succeeded", 1)}
    assert seen["bad.bin"] == ("processing", "pending", 1)
    assert [m.relpath for m in sent] == ["bad.bin"] and sent[0].countdown_s > 0
    # and each step's result is its own file's
    for message in messages[:-1]:
        (pipeline,) = runtime.store.pipelines_of(message["event_id"])
        (step,) = runtime.store.steps_of(pipeline.id)
        assert step.result == {"relpath": message["relpath"]}
        assert step.lease_owner is None  # the lease ended with the recorded outcome
    runtime.close()


def test_steps_that_do_not_say_so_run_one_after_the_other_in_the_task(tmp_path):
    # given a route whose step may not run beside others
    runtime, inbox = runtime_for(tmp_path, side_by_side=False)
    messages = batch_of(inbox, ["a.bin", "b.bin", "c.bin"])
    # when a batch of 3 runs, then they ran one at a time, in the task's own thread
    assert run(runtime, messages) == []
    assert WaitAction.most == 1 and WaitAction.threads == {"MainThread"}
    assert set(states(runtime, messages).values()) == {("succeeded", "succeeded", 1)}
    runtime.close()
