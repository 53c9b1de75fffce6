"""The rollups on SQLite and PostgreSQL: kept as events finish (also those finished when
recorded), equal to a rebuild from the raw rows, and kept by ``db prune``; the report read
from them (text, CSV, JSON) and the CLI's answers to bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from filerelay.cli import app
from filerelay.errors import UsageError
from filerelay.model import EventState
from filerelay.ops import reports as ops
from filerelay.store import Store, make_engine, summary_rollups
from filerelay.store.agents import AgentInfo
from filerelay.store.db import utcnow
from filerelay.store.records import Verdict
from filerelay.store.schema import rollups
from filerelay.store.schema import summary_rollups as summary_rollups_table
from tests.conftest import migrated_sqlite
from tests.store.store_helpers import admit, fail_step, make_event, plan, run_step, step, steps_at


@pytest.fixture
def store(migrated_db_url: str) -> Iterator[Store]:
    engine = make_engine(migrated_db_url)
    try:
        yield Store(engine)
    finally:
        engine.dispose()


def _pipelines(store: Store) -> None:
    """Four files through route 'video' (one failing for good), one skipped when recorded."""
    for i, size in enumerate((10, 100, 5000, 70_000)):
        [pid] = admit(store, make_event(f"v/{i}.mp4", size=size), plan("video", step(1, "up")))
        [sid] = steps_at(store, pid, 1)
        if i == 3:
            fail_step(
                store, sid, "HTTP 503 <b>busy</b> from http://upstream.example/a/9f8e7d6c5b4a"
            )
        else:
            run_step(store, sid)
    store.admit(make_event("v/skip.txt", size=1), Verdict(state=EventState.SKIPPED))


def _rows(store: Store) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        query = select(rollups).order_by(*rollups.primary_key.columns)
        return [tuple(r) for r in conn.execute(query)]


def test_rollups_count_each_finish_and_equal_a_rebuild(store: Store) -> None:
    # given files finished through the store's recording paths
    _pipelines(store)
    kept = _rows(store)
    report = ops.build_report(store, period="day")
    # then the report counts them
    s = report["summary"]
    assert (s["files"]["current"], s["failed"]["current"], s["succeeded"]["current"]) == (5, 1, 3)
    assert s["failure_rate"]["current"] == pytest.approx(0.25)
    assert s["bytes"]["current"] == 10 + 100 + 5000 + 70_000 + 1
    sizes = {b["below_bytes"]: b["files"] for b in report["sizes"]}
    assert sizes == {4: 1, 16: 1, 256: 1, 16384: 1, 262144: 1}
    [error] = report["errors"]
    assert error == {"error": "step up: HTTP 503 <b>busy</b> from <url>", "count": 1, "previous": 0}
    # when rebuilt from the raw rows / then the same rows
    assert ops.rebuild_rollups(store) == 5
    assert _rows(store) == kept
    # when the events are pruned / then the rollups and the report stay
    pruned = store.prune_batch(utcnow() + timedelta(seconds=1), ["succeeded", "failed", "skipped"])
    assert pruned.events == 5
    assert _rows(store) == kept
    assert ops.build_report(store, period="day")["summary"] == report["summary"]


def test_a_batch_finished_in_one_transaction_counts_each_file(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the store's clock at whole seconds (SQLite's date functions, which a rebuild
    # uses, read times to the millisecond: a latency within 1 ms of a bin's bound can land in
    # the next bin on a rebuild, as docs/api.md says)
    at = [datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)]
    monkeypatch.setattr("filerelay.store.repo.utcnow", lambda: at[0])
    # and six files of two sources, their one-step pipelines claimed, and one of another
    # route with two steps (its first succeeds in the batch, the file not finished yet)
    claims = []
    for i in range(6):
        event = make_event(f"b/{i}.bin", size=10 * (i + 1), source=("cam", "lab")[i % 2])
        [pid] = admit(store, event, plan("up", step(1, "put")))
        [sid] = steps_at(store, pid, 1)
        claims.append(store.claim_step(sid, "w", 60))
    [pid] = admit(store, make_event("b/two.bin"), plan("two", step(1, "a"), step(2, "b")))
    [sid] = steps_at(store, pid, 1)
    claims.append(store.claim_step(sid, "w", 60))
    # when their successes are recorded in one transaction (an ingest batch's), 2.5 s later
    at[0] += timedelta(seconds=2.5)
    answers = store.succeed_steps([(c, "w", {"ok": True}) for c in claims if c is not None])
    # then six files finished; the rollup and summary rows count each once, as a rebuild does
    assert [a is not None and a.event_finished_now for a in answers] == [True] * 6 + [False]
    kept, summary = _rows(store), _summary_rows(store)
    with store.engine.connect() as conn:
        succeeded = conn.execute(
            select(rollups.c.source, rollups.c.n).where(
                rollups.c.route == "", rollups.c.kind == "outcome", rollups.c.key == "succeeded"
            )
        ).all()
    assert sorted(tuple(r) for r in succeeded) == [("cam", 3), ("lab", 3)]
    assert ops.rebuild_rollups(store) == 6
    assert _rows(store) == kept
    assert _summary_rows(store) == summary
    assert {(r[0], r[2], r[3], r[4]) for r in summary if r[2] == "state"} == {
        (grain, "state", "succeeded", 6) for grain in summary_rollups.GRAINS
    }


def _summary_rows(store: Store) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        query = select(
            summary_rollups_table.c.grain, summary_rollups_table.c.at_s,
            summary_rollups_table.c.kind, summary_rollups_table.c.key,
            summary_rollups_table.c.n,
        ).order_by(*summary_rollups_table.primary_key.columns)  # fmt: skip
        return [tuple(r) for r in conn.execute(query)]


def test_report_formats_and_cli_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "store.db"
    engine = make_engine(migrated_sqlite(db))
    _pipelines(Store(engine))
    engine.dispose()
    env = {"FILERELAY_DATABASE_URL": f"sqlite:///{db}", "FILERELAY_STATE_DIR": str(tmp_path)}
    runner = CliRunner()
    # when asked for each format / then each says the same counts
    text = runner.invoke(app, ["report", "--period", "day"], env=env)
    assert text.exit_code == 0, text.output
    assert "failure_rate" in text.output and "25.0%" in text.output
    data = json.loads(runner.invoke(app, ["report", "--format", "json"], env=env).output)
    assert data["summary"]["files"]["current"] == 5
    csv = runner.invoke(app, ["report", "--format", "csv", "--source", "cam"], env=env).output
    assert "summary,files,current,5" in csv.splitlines()
    out = tmp_path / "r.html"
    assert (
        runner.invoke(app, ["report", "--format", "html", "-o", str(out)], env=env).exit_code == 0
    )
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<b>busy" not in page and "&lt;b&gt;busy" in page  # text from the store is escaped
    rebuilt = runner.invoke(app, ["db", "rollup", "--rebuild"], env=env)
    assert rebuilt.exit_code == 0 and "5 finished event(s)" in rebuilt.output
    # when given bad input / then one line and exit 2
    for argv, words in (
        (["report", "--format", "pdf"], "--format"),
        (["report", "--period", "year"], "--period"),
        (["report", "--since", "2026-12-02", "--until", "2026-12-01"], "--since"),
    ):
        bad = runner.invoke(app, argv, env=env)
        assert bad.exit_code == 2, (argv, bad.output)
        assert words in bad.output and "Traceback" not in bad.output


def test_config_mistakes_are_located(tmp_path: Path) -> None:
    from filerelay.actions.registry import default_registry
    from filerelay.config import ActionCatalog, load_config
    from filerelay.errors import ConfigError

    # given SLOs, a schedule and a burn rule naming what does not exist, and a bad limit
    (tmp_path / "in").mkdir()
    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        f"sources:\n  - {{name: cam, path: '{tmp_path / 'in'}'}}\n"
        f"routes:\n  - name: video\n    steps:\n      - copy: {{to: '{tmp_path}/o/{{relpath}}'}}\n"
        "alerts:\n  channels:\n    chat: {type: slack, webhook_url: 'https://h.example/x'}\n"
        "  rules:\n    - {name: b, kind: slo_burn, slo: fast, channels: [chat]}\n"
        "slos:\n  - {name: quick, route: vidoe, objective: 0.99}\n"
        "  - {name: slow, objective: 0.9, latency: 70s}\n"
        "reports:\n  schedule:\n    - {name: d, channels: [chta], timezone: Mars/Olympus}\n"
    )
    # when loaded / then every problem is reported with its place
    with pytest.raises(ConfigError) as caught:
        load_config(cfg, ActionCatalog.from_registry(default_registry()), check_paths=False)
    text = str(caught.value)
    assert "slos[1].latency" in text and "use 60s or 80s" in text
    assert "reports.schedule[0].timezone" in text and "Mars/Olympus" in text
    # and once the schema holds, the names that do not resolve are each reported
    cfg.write_text(
        cfg.read_text()
        .replace("latency: 70s", "latency: 60s")
        .replace(", timezone: Mars/Olympus", "")
    )
    with pytest.raises(ConfigError) as caught:
        load_config(cfg, ActionCatalog.from_registry(default_registry()), check_paths=False)
    text = str(caught.value)
    assert "slos[0].route: unknown route 'vidoe'; did you mean 'video'?" in text
    assert "reports.schedule[0].channels[0]: unknown alert channel 'chta'" in text
    assert "alerts.rules[0].slo: unknown SLO 'fast'" in text


def test_a_report_of_the_hosts_whose_agents_carry_a_label(store: Store) -> None:
    # given files from two hosts, whose agents carry different labels
    for host, name in (("h1", "a"), ("h2", "b"), ("h2", "c")):
        store.admit(
            make_event(f"v/{name}.txt", size=1, host=host), Verdict(state=EventState.SKIPPED)
        )
    for host, site in (("h1", "sh"), ("h2", "bj")):
        info = AgentInfo(f"w-{host}", "worker", host, 1, "x", 5.0, labels={"site": site})
        store.register_agent(info)
    # when reported for the label site=bj / then only h2's files count
    report = ops.build_report(store, period="day", labels={"site": "bj"})
    assert report["summary"]["files"]["current"] == 2
    # and a label no agent carries is a usage error, not a report of every host
    with pytest.raises(UsageError, match="no agent has the labels site=nowhere"):
        ops.build_report(store, period="day", labels={"site": "nowhere"})
