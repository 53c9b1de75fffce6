"""The deployment's config file as the operator manages it: load and check it, validate a
candidate text (every problem located), apply a new version (validated, then written
atomically over the file this deployment runs with, and recorded as a numbered version),
list versions and roll back to one.

Workers and watchers pick a new version up by their existing reload; nothing here signals
them. A push that fails validation changes nothing: no file written, no version recorded.
(Fleet-wide rollouts through the store are the fleet package's; this is the one-file case.)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog, LoadedConfig, load_config
from filerelay.config.loader import parse_config_text
from filerelay.config.models import step_slots
from filerelay.config.secrets import config_secrets
from filerelay.config.stored import masked_config_text, unmasked_config_text
from filerelay.errors import ConfigError, ConfigProblem, NotFoundError, UsageError
from filerelay.logs import register_secrets
from filerelay.pipeline.retry import check_delivery_limits
from filerelay.settings import Settings
from filerelay.store.admin import ControlStore

MAX_TEXT_BYTES = 4 * 1024 * 1024


def catalog() -> ActionCatalog:
    """The action catalog configs are validated against."""
    return ActionCatalog.from_registry(default_registry())


def _delivery_problems(model: Any, settings: Settings) -> list[str]:
    steps = [slot[2] for r in model.routes for slot in step_slots(r.steps)]
    timeouts = [s.timeout or model.defaults.timeout for s in steps]
    backoffs = [(s.retry or model.defaults.retry).max_backoff for s in steps]
    return check_delivery_limits(timeouts, backoffs, settings.visibility_timeout_s)


def check_config(settings: Settings, *, check_paths: bool = True) -> LoadedConfig:
    """Load and validate the pipeline config the settings name; raises ConfigError."""
    if settings.config is None:
        raise ConfigError("no pipeline config: pass --config FILE or set FILERELAY_CONFIG")
    loaded = load_config(settings.config, catalog(), check_paths=check_paths)
    register_secrets(config_secrets(loaded))
    problems = _delivery_problems(loaded.model, settings)
    if problems:
        raise ConfigError(f"{settings.config}: {problems[0]}")
    return loaded


def problems_of(exc: ConfigError) -> list[ConfigProblem]:
    """A ConfigError's problems as located records."""
    return [
        p if isinstance(p, ConfigProblem) else ConfigProblem("", None, "", str(p))
        for p in exc.problems
    ]


def validate_text(settings: Settings, text: str, name: str = "config.yaml") -> list[ConfigProblem]:
    """Every problem of a candidate config text (empty: it is valid)."""
    if len(text.encode()) > MAX_TEXT_BYTES:
        return [ConfigProblem(name, None, "", "the text is over 4 MiB long")]
    try:
        model = parse_config_text(text, name, catalog(), check_paths=False)
    except ConfigError as exc:
        return problems_of(exc)
    return [ConfigProblem(name, None, "", p) for p in _delivery_problems(model, settings)]


@dataclass(frozen=True)
class Current:
    """The config this deployment runs: its version number (None before the first push),
    SHA-256 and masked text."""

    version: int | None
    sha256: str
    path: str
    text: str


def config_path(settings: Settings) -> Path:
    if settings.config is None:
        raise UsageError("this deployment runs no config file (FILERELAY_CONFIG)")
    return Path(settings.config)


def current(settings: Settings, store: ControlStore) -> Current:
    """The config file as it is now, masked, with its version if it was recorded."""
    path = config_path(settings)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    sha = hashlib.sha256(text.encode()).hexdigest()
    latest = store.version()
    number = latest["version"] if latest and latest["sha256"] == sha else None
    return Current(number, sha, str(path), masked_config_text(text))


def apply(settings: Settings, store: ControlStore, text: str, by: str, comment: str | None) -> int:
    """Validate ``text``, write it atomically over the config file, record it; the version.

    :class:`ConfigError` (nothing changed) when it is not valid."""
    path = config_path(settings)
    problems = validate_text(settings, text, path.name)
    if problems:
        raise ConfigError(problems)
    before = path.read_text(encoding="utf-8") if path.exists() else None
    _write_atomically(path, text)
    try:
        return store.add_version(
            {
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "text": masked_config_text(text),
                "path": str(path),
                "created_by": by,
                "comment": comment,
            }
        )
    except BaseException:  # not recorded: put the file back, so nothing changed
        if before is not None:
            _write_atomically(path, before)
        raise


def rollback(settings: Settings, store: ControlStore, number: int, by: str) -> int:
    """Apply version ``number`` again (its masked secrets filled from the current file)."""
    found = store.version(number)
    if found is None:
        raise NotFoundError(f"no config version {number}")
    now_text = config_path(settings).read_text(encoding="utf-8")
    text = unmasked_config_text(found["text"], now_text)
    return apply(settings, store, text, by, f"rollback to version {number}")


def _write_atomically(path: Path, text: str) -> None:
    """Write a temporary file beside ``path``, fsync it, rename it over ``path``."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
