"""Shared CLI plumbing: exit codes, settings and config loading, error printing."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import typer

from filerelay.cli.printable import printable
from filerelay.config import LoadedConfig
from filerelay.errors import ConfigError, StoreError, UsageError
from filerelay.logs import configure_logging, register_secrets
from filerelay.ops import config as ops_config
from filerelay.redaction import secrets_in
from filerelay.settings import Settings, load_settings
from filerelay.statedir import private_dir, private_file
from filerelay.store.db import check_driver

T = TypeVar("T")


class Exit(IntEnum):
    """Named exit codes of every command."""

    OK = 0
    FAILURES = 1
    USAGE = 2
    CANNOT_CONNECT = 3


CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="Pipeline YAML (default: $FILERELAY_CONFIG).", show_default=False
)


def fail(message: str, code: Exit) -> NoReturn:
    typer.echo(printable(f"error: {message}"), err=True)
    raise typer.Exit(int(code))


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected errors into one clear line each and a named exit code, never a traceback."""
    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(printable(f"error: {str(problem).lstrip(': ')}"), err=True)
        raise typer.Exit(int(Exit.USAGE)) from None
    except StoreError as exc:
        fail(f"store: {exc}", Exit.CANNOT_CONNECT)
    except UsageError as exc:
        fail(str(exc), Exit.USAGE)


def settings_for(config: Path | None, **overrides: Any) -> Settings:
    """Settings from the environment, with the command line's --config taking precedence."""
    with user_errors():
        try:
            settings = load_settings(config=config, **overrides)
        except Exception as exc:  # pydantic ValidationError on a bad FILERELAY_* value
            raise ConfigError(f"bad FILERELAY_* setting: {exc}") from None
        check_driver(settings.resolved_database_url())  # one line, not a traceback, at once
    configure_logging(settings.log_format, settings.log_level)
    register_secrets(secrets_in(settings))
    return settings


def check_config(settings: Settings, *, check_paths: bool = True) -> LoadedConfig:
    """Load and validate the pipeline config named by the settings; raises ConfigError."""
    return ops_config.check_config(settings, check_paths=check_paths)


def load_checked(settings: Settings, *, check_paths: bool = True) -> LoadedConfig:
    """Load and validate the pipeline config named by the settings, or exit 2."""
    with user_errors():
        return check_config(settings, check_paths=check_paths)


#: Held by the one ``filerelay run`` or ``watch`` using a state dir, from its start (the
#: outbox's own ``watcher.lock`` is taken later, once the watcher thread runs).
PROCESS_LOCK = "process.lock"


def claim_state_dir(settings: Settings) -> TextIO:
    """Create the state dir and take its watcher lock, or exit 2 with one line naming it: a
    state dir that is not a directory, cannot be created, or is used by another watcher (two
    would share one outbox and index). Keep the returned file open while the process runs."""
    folder = settings.state_dir
    if folder.exists() and not folder.is_dir():
        fail(f"state dir {folder} is not a directory (FILERELAY_STATE_DIR)", Exit.USAGE)
    try:
        private_dir(folder)
        lock = private_file(folder / PROCESS_LOCK).open("a+")
    except OSError as exc:
        fail(f"state dir {folder}: {exc.strerror}", Exit.USAGE)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        fail(
            f"state dir {folder} is in use by another filerelay run/watch (pid {holder})",
            Exit.USAGE,
        )
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def run_guarded(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()
