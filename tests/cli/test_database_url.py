"""``FILERELAY_DATABASE_URL``: every PostgreSQL URL form works when its driver is installed;
a URL naming a driver that is not installed is one line naming what to install, exit 2, in
every command."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.cli.inprocess import invoke_filerelay
from tests.e2e.harness import clean_env, run_filerelay


def _with_driver(pg_url: str, driver: str) -> str:
    """``pg_url`` (any postgresql URL of the fixture) with ``driver`` as its scheme."""
    return driver + "://" + pg_url.split("://", 1)[1]


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg", "postgresql+psycopg2"])
def test_db_upgrade_accepts_each_postgresql_url_form(
    pg_url: str, tmp_path: Path, scheme: str
) -> None:
    if scheme.endswith("psycopg2") and importlib.util.find_spec("psycopg2") is None:
        pytest.skip("psycopg2 is not installed (filerelay's extra installs psycopg 3)")
    # given a URL of this form / when the schema is created, then read back
    env = clean_env(FILERELAY_DATABASE_URL=_with_driver(pg_url, scheme))
    done = run_filerelay(("db", "upgrade"), tmp_path, env)
    # then it works
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("store at revision "), done.stdout
    current = run_filerelay(("db", "current"), tmp_path, env)
    assert current.returncode == 0 and current.stdout.startswith("store 0"), current.stderr


@pytest.mark.parametrize(
    "argv",
    [("db", "upgrade"), ("db", "current"), ("status",), ("events", "list"), ("health",)],
)
def test_a_driver_that_is_not_installed_is_one_line_and_exit_2(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    # given a URL naming a driver this environment does not have
    assert importlib.util.find_spec("pg8000") is None
    url = "postgresql+pg8000://app:s3cret-pw@127.0.0.1:1/filerelay"
    env = clean_env(FILERELAY_DATABASE_URL=url, FILERELAY_STATE_DIR=str(tmp_path / "state"))
    # when a command runs
    done = invoke_filerelay(argv, tmp_path, env)
    # then it says, in one line, which driver is missing and what to install
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pg8000" in lines[0] and "filerelay[postgres]" in lines[0], lines[0]
    assert "s3cret-pw" not in done.stderr
