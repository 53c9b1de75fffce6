"""An audit row written in the transaction of its effect: a committed pause has its ``ok``
row, a pause whose row cannot be written does not happen, and a refused cancel leaves no
``ok`` row; a use case whose effect is not a store write gets its row after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from filerelay.errors import ConflictError, StoreError
from filerelay.ops import cancel as ops_cancel
from filerelay.ops import sources as ops_sources
from filerelay.ops.audit import Actor, audited
from filerelay.ops.deployment import Deployment
from filerelay.settings import load_settings
from filerelay.store.control import AuditFilter
from tests.store.store_helpers import admit, make_event, plan, step

ACTOR = Actor("ops-1", "operator", "127.0.0.1")


@pytest.fixture
def dep(tmp_path: Path) -> Iterator[Deployment]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        f'sources:\n  - {{name: inbox, path: "{inbox}"}}\n'
        f'routes:\n  - name: copy\n    steps:\n      - copy: {{to: "{tmp_path}/out/{{relpath}}"}}\n'
    )
    settings = load_settings(
        state_dir=tmp_path / "state", database_url=f"sqlite:///{tmp_path}/s.db", config=config
    )
    deployment = Deployment.open(settings)
    deployment.store.register_source("inbox", str(inbox))
    yield deployment
    deployment.close()


def rows(dep: Deployment, action: str) -> list[tuple[str, str]]:
    found = dep.control.audit_page(AuditFilter(action=action), 100, None)
    return [(r["actor"], r["outcome"]) for r in found]


def test_a_pause_and_its_audit_row_commit_together(dep: Deployment) -> None:
    # when an operator pauses a source / then it is paused, with one ok row
    ops_sources.set_paused(dep, ACTOR, "inbox", True)
    assert ops_sources.get_source(dep, "inbox").paused
    assert rows(dep, "pause") == [("ops-1", "ok")]
    # given the audit log cannot be written any more (its table gone)
    with dep.store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    # when the operator resumes it / then the resume fails and did not happen
    with pytest.raises(StoreError):
        ops_sources.set_paused(dep, ACTOR, "inbox", False)
    assert ops_sources.get_source(dep, "inbox").paused
    with dep.store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log_away RENAME TO audit_log"))
    assert rows(dep, "resume") == []


def test_a_refused_cancel_leaves_only_its_error_row(dep: Deployment) -> None:
    # given a pipeline cancelled once
    event = make_event("c/one.bin")
    (pid,) = admit(dep.store, event, plan("copy", step(0, "one")))
    ops_cancel.cancel(dep.store, dep.control, ACTOR, pid)
    # when it is cancelled again / then 409, and the row says so (no second ok row)
    with pytest.raises(ConflictError):
        ops_cancel.cancel(dep.store, dep.control, ACTOR, pid)
    outcomes = [o for _, o in rows(dep, "cancel")]
    assert outcomes[1] == "ok" and outcomes[0].startswith("error: ") and len(outcomes) == 2


def test_a_use_case_without_a_store_effect_is_audited_after_it(dep: Deployment) -> None:
    # when a use case whose effect is elsewhere succeeds / then its ok row is written after it
    with audited(dep.control, ACTOR, "submit", "/x"):
        pass
    assert rows(dep, "submit") == [("ops-1", "ok")]
