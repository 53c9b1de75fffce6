"""Loading a changed config in a running process: any failure is a refusal, never a crash.

The watcher's supervisor, each worker process and the worker's SIGHUP handler reload the
config while they run. Whatever goes wrong while loading the new file — a config error, or
an exception nobody foresaw (a YAML tag once raised a TypeError here, which killed the
supervisor and left files queued for ever) — the new version is refused with one log line
(``config_reload_refused``, its problems listed) and the old rules stay.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from filerelay.errors import ConfigError

T = TypeVar("T")


def try_reload(load: Callable[[], T], log: Any, path: Path | str | None) -> T | None:
    """``load()``, or None after logging why the new config was refused."""
    try:
        return load()
    except ConfigError as exc:
        problems = [str(problem).lstrip(": ") for problem in exc.problems]
    except Exception as exc:  # a bug or a hostile file: refused like any bad config
        problems = [f"cannot load the config: {type(exc).__name__}: {exc}"]
    log.error("config_reload_refused", path=str(path), problems=problems)
    return None
