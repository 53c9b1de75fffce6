"""File names with terminal escape sequences are shown escaped by the human CLI output and
stay exact in ``--json`` (issue 18)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from filerelay.model import EventState
from filerelay.store import Store, Verdict, make_engine
from tests.cli.inprocess import invoke_filerelay
from tests.conftest import migrated_sqlite
from tests.e2e.harness import clean_env
from tests.factories import file_event

# set the terminal title, write the clipboard (OSC 52), colour, clear the screen, reorder text
HOSTILE = "a\x1b]0;pwned\x07b\x1b]52;c;ZXZpbA==\x07\x1b[31mred\x1b[2J\r\u202eexe.txt"


def filerelay(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return invoke_filerelay(args, cwd, env)


def test_escape_sequences_in_names_are_not_sent_to_the_terminal(tmp_path: Path) -> None:
    # given an event recorded for a file whose name holds escape sequences, failed with it
    url = migrated_sqlite(tmp_path / "store.db")
    engine = make_engine(url)
    event = file_event(f"in/{HOSTILE}", root="/data/cam", source="cam")
    Store(engine).admit(event, Verdict(state=EventState.FAILED, reason=f"bad {HOSTILE}"))
    engine.dispose()
    env = clean_env(FILERELAY_DATABASE_URL=url, FILERELAY_STATE_DIR=str(tmp_path / "state"))
    # when an operator lists and shows it
    listed = filerelay(env, tmp_path, "events", "list")
    shown = filerelay(env, tmp_path, "events", "show", event.event_id)
    as_json = filerelay(env, tmp_path, "events", "show", event.event_id, "--json")
    # then no control character reaches the terminal: they are shown escaped
    for result in (listed, shown):
        assert result.returncode == 0, result.stderr
        assert not any(ch in result.stdout for ch in "\x1b\x07\r\u202e"), repr(result.stdout)
    assert "\\x1b]52;c;ZXZpbA==\\x07" in shown.stdout and "\\u202eexe.txt" in shown.stdout
    assert "\\x1b" in listed.stdout
    # and --json keeps the exact name
    (shown_event,) = json.loads(as_json.stdout)["events"]
    assert shown_event["relpath"] == f"in/{HOSTILE}"
