"""``FILERELAY_<NAME>_FILE`` reads a setting from a file (a container secret): the value is
the file's text, the plain variable wins over it, and an unreadable file is one clear line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from filerelay.cli import app
from filerelay.settings import load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No FILERELAY_* variable from the caller's environment, and no ``.env`` in the cwd."""
    for key in list(os.environ):
        if key.startswith("FILERELAY_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_a_setting_is_read_from_the_file_its_FILE_variable_names(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given the store URL and Flower's credentials in secret files (with trailing newlines)
    url = "postgresql+psycopg2://filerelay_worker:s3cr%2Ft@db:5432/filerelay"
    (tmp_path / "database_url").write_text(url + "\n")
    (tmp_path / "flower").write_text("admin:very-secret\n")
    clean_env.setenv("FILERELAY_DATABASE_URL_FILE", str(tmp_path / "database_url"))
    clean_env.setenv("FILERELAY_FLOWER_BASIC_AUTH_FILE", str(tmp_path / "flower"))
    clean_env.setenv("FILERELAY_METRICS_PORT", "9310")
    # when the settings are built
    settings = load_settings()
    # then the files' texts are the values, typed as the settings declare them
    assert settings.resolved_database_url() == url
    assert settings.flower_basic_auth is not None
    assert settings.flower_basic_auth.get_secret_value() == "admin:very-secret"
    assert settings.metrics_port == 9310


def test_the_variable_wins_over_its_FILE_form(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given both FILERELAY_BROKER_URL and FILERELAY_BROKER_URL_FILE
    (tmp_path / "broker").write_text("redis://from-file:6379/0")
    clean_env.setenv("FILERELAY_BROKER_URL_FILE", str(tmp_path / "broker"))
    clean_env.setenv("FILERELAY_BROKER_URL", "redis://from-env:6379/0")
    # then the variable is used
    assert load_settings().broker_url == "redis://from-env:6379/0"
    # and an explicit argument still wins over both
    assert load_settings(broker_url="redis://arg:6379/1").broker_url == "redis://arg:6379/1"


def test_an_unreadable_FILE_is_refused_with_one_line_and_exit_2(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given a FILE variable naming a file that does not exist
    missing = tmp_path / "nope" / "database_url"
    clean_env.setenv("FILERELAY_DATABASE_URL_FILE", str(missing))
    # when any command builds its settings
    result = CliRunner().invoke(app, ["db", "current"])
    # then it exits 2 naming the variable and the path
    assert result.exit_code == 2, result.output
    assert f"cannot read FILERELAY_DATABASE_URL_FILE={missing}" in result.output
    assert "Traceback" not in result.output
