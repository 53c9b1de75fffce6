"""`filerelay tokens` and `filerelay audit list`: a token printed once, listed without its
secret, revoked; each change one audit row with the OS user as actor."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from filerelay.cli import app
from tests.conftest import migrated_sqlite


@pytest.mark.slow
def test_tokens_are_created_listed_revoked_and_audited(tmp_path: Path) -> None:
    # given a store
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FILERELAY_")}
    env["FILERELAY_STATE_DIR"] = str(tmp_path / "state")
    migrated_sqlite(tmp_path / "state" / "filerelay.db")
    cli = CliRunner()
    # when a token is created / then its secret is printed once, on stdout
    made = cli.invoke(app, ["tokens", "create", "ci-bot", "--role", "operator"], env=env)
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("fr_") and "not shown again" in made.stderr
    # and the list names it, never its secret
    listed = cli.invoke(app, ["tokens", "list", "--json"], env=env)
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["ci-bot"] and secret not in listed.stdout
    # when it is revoked
    assert cli.invoke(app, ["tokens", "revoke", "ci-bot"], env=env).exit_code == 0
    # then the audit log holds both changes, by the OS user, role cli
    audit = json.loads(cli.invoke(app, ["audit", "list", "--json"], env=env).stdout)
    actions = [(r["action"], r["target"], r["role"], r["outcome"]) for r in audit["items"]]
    assert actions == [
        ("tokens.revoke", "ci-bot", "cli", "ok"),
        ("tokens.create", "ci-bot", "cli", "ok"),
    ]
    assert "@" in audit["items"][0]["actor"]
