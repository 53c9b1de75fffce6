"""The CLI imports a command's module only when that command runs: `filerelay version` and
`filerelay --help` start without the heavy stack, and `--help` lists what the modules say."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
from typer.models import DefaultPlaceholder

from filerelay.cli import COMMANDS, app
from filerelay.cli.common import Exit

HEAVY = ("celery", "boto3", "sqlalchemy", "alembic", "fastapi", "uvicorn", "redis")
HEAVY_OURS = ("filerelay.alerting", "filerelay.reports", "filerelay.store", "filerelay.ops")

PROBE = """\
import runpy, sys
sys.argv = ["filerelay", *sys.argv[1:]]
try:
    runpy.run_module("filerelay", run_name="__main__")
except SystemExit:
    pass
print("MODULES", *sorted(sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["version"], ["--help"], []])
def test_version_and_help_import_no_command_module(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    loaded = set(proc.stderr.split("MODULES", 1)[1].split())
    heavy = {m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY_OURS)}
    assert not heavy, sorted(heavy)
    assert not {m for m in loaded if m.startswith("filerelay.cli.")}


def _first_paragraph(text: str) -> str:
    return inspect.cleandoc(text).split("\n\n")[0].strip()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listing_says_what_the_command_says(name: str) -> None:
    command = COMMANDS[name].load(name)
    assert command.name == name
    assert COMMANDS[name].help == _first_paragraph(command.short_help or command.help or "")
    assert not command.hidden and not command.deprecated
    panel = getattr(command, "rich_help_panel", None)
    assert panel is None or isinstance(panel, DefaultPlaceholder)  # the listing has one panel


def test_every_command_is_reachable() -> None:
    import typer

    group = typer.main.get_command(app)
    names = group.list_commands(None)  # type: ignore[attr-defined]
    assert sorted(names) == sorted([*COMMANDS, "version"])


def test_interrupted_exit_code_is_failures() -> None:
    from filerelay import cli

    assert cli._EXIT_FAILURES == Exit.FAILURES
