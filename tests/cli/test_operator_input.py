"""Operator commands refuse bad input with one clear line and exit 2; a store whose schema
is behind is refused with exit 3 and the command that fixes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from filerelay.cli import app
from filerelay.model import EventState
from filerelay.store import Store, Verdict, make_engine
from filerelay.store.migrate import upgrade
from tests.cli.inprocess import invoke_filerelay
from tests.conftest import migrated_sqlite
from tests.e2e.harness import clean_env
from tests.factories import file_event

MISSING_ID = "0123456789abcdef0123456789abcdef"

BAD_INPUT = {
    "unknown state": (["events", "list", "--state", "nope"], "unknown state 'nope' (one of: "),
    "bad since": (["events", "list", "--since", "yesterday"], "--since: cannot parse 'yesterday'"),
    "bad until": (["events", "list", "--until", "2026-13-01"], "--until: cannot parse"),
    "bad cursor": (["events", "list", "--cursor", "abc"], "--cursor: not a cursor"),
    "bad limit": (["events", "list", "--limit", "0"], "--limit must be between 1 and"),
    "show missing id": (["events", "show", MISSING_ID], f"no event {MISSING_ID}"),
    "show unknown path": (["events", "show", "/nope/x.bin"], "no event recorded for path"),
    "show outside path": (["events", "show", "/elsewhere/f.bin", "-c", "CFG"], "outside every"),
    "reprocess bad state": (["reprocess", "--state", "gone"], "unknown state 'gone'"),
    "reprocess bad since": (["reprocess", "--state", "failed", "--since", "1x"], "--since"),
    "reprocess missing id": (["reprocess", MISSING_ID], f"no event {MISSING_ID}"),
    "reprocess nothing": (["reprocess"], "nothing selected"),
    "reprocess outside path": (["reprocess", "/elsewhere/f.bin", "-c", "CFG"], "outside every"),
    "submit outside path": (["submit", "/elsewhere/f.bin", "-c", "CFG"], "outside every source"),
    "prune bad age": (["db", "prune", "--older-than", "soon"], "--older-than: cannot parse"),
    "prune live state": (["db", "prune", "--older-than", "1d", "--state", "queued"], "unknown"),
    "health bad role": (["health", "--role", "boss"], "unknown role 'boss'"),
    "pause unknown source": (["pause", "--source", "nope", "-c", "CFG"], "unknown source 'nope'"),
    "token bad role": (["tokens", "create", "x", "--role", "root"], "unknown role 'root'"),
    "cancel nothing": (["cancel"], "give an event id or --pipeline ID"),
    "cancel missing pipeline": (["cancel", "--pipeline", "77"], "no pipeline 77"),
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    """A clean FILERELAY_* environment with its own state dir (and SQLite store)."""
    values: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FILERELAY_")}
    values["FILERELAY_STATE_DIR"] = str(tmp_path / "state")
    migrated_sqlite(tmp_path / "state" / "filerelay.db")  # the store exists
    return values


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, env, case: str) -> None:
    # given a valid config with one source
    (tmp_path / "src").mkdir()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"sources:\n  - {{name: a, path: '{tmp_path / 'src'}'}}\n"
        f"routes:\n  - name: r\n    steps:\n      - copy: {{to: '{tmp_path}/out/{{relpath}}'}}\n"
    )
    argv, expected = BAD_INPUT[case]
    argv = [str(cfg) if a == "CFG" else a for a in argv]
    # when the command runs with bad input
    result = CliRunner().invoke(app, argv, env=env)
    # then it exits 2 with one line saying what is wrong
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines


def test_a_store_behind_the_code_is_refused_with_exit_3_and_the_fix(tmp_path: Path) -> None:
    # given a store at revision 0002 and automatic upgrades switched off
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0002")
    engine.dispose()
    env = clean_env(FILERELAY_DATABASE_URL=url, FILERELAY_DB_AUTO_UPGRADE="false")
    # when an operator command starts
    result = subprocess.run(
        [sys.executable, "-m", "filerelay", "events", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then it refuses, names the revision it needs and the command that fixes it
    assert result.returncode == 3, result.stderr
    assert "store schema is at 0002" in result.stderr
    assert "run `filerelay db upgrade`" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_operator_command_run_elsewhere_names_the_store_it_looked_for(tmp_path: Path) -> None:
    # given a directory where filerelay never ran, and no FILERELAY_STATE_DIR
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for argv in (["status"], ["events", "list"], ["events", "show", "x.txt"], ["db", "current"]):
        # when an operator command runs there
        result = invoke_filerelay(argv, elsewhere, clean_env())
        # then it says which store it looked for, exit 2, and creates nothing there
        assert result.returncode == 2, (argv, result.stdout, result.stderr)
        expected = f"error: no filerelay store at {elsewhere / '.filerelay' / 'filerelay.db'}:"
        assert result.stderr.startswith(expected), result.stderr
        assert "FILERELAY_STATE_DIR" in result.stderr
        assert list(elsewhere.iterdir()) == [], argv


def test_names_are_printed_as_they_are_no_emoji_no_markup(tmp_path: Path, env) -> None:
    # given a recorded file whose name looks like rich markup and an emoji code
    store = Store(make_engine(f"sqlite:///{tmp_path / 'state' / 'filerelay.db'}"))
    event = file_event(":camera: [red]clip[/red].txt", root="/data")
    store.admit(event, Verdict(state=EventState.QUEUED))
    store.engine.dispose()
    # when it is listed and shown
    listed = CliRunner().invoke(app, ["events", "list"], env=env)
    shown = CliRunner().invoke(app, ["events", "show", event.path], env=env)
    # then the name is printed as it is
    for result in (listed, shown):
        assert result.exit_code == 0, result.output
        assert ":camera: [red]clip[/red].txt" in result.stdout, result.stdout
        assert "\U0001f4f7" not in ascii(result.stdout)
