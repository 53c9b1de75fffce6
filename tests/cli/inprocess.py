"""``filerelay ARGS`` run in the test's own process (typer's CliRunner), for tests about what
a command prints and its exit code: a new interpreter costs each run a second or two of
imports. Tests about a real process (signals, a lock held by a running one, stdin, what the
process itself writes) keep :func:`tests.e2e.harness.run_filerelay`.

The result is a :class:`subprocess.CompletedProcess`, as ``run_filerelay`` returns: an
uncaught exception is exit 1 with its traceback on stderr, as Python would print it. What a
command changes in the process for its run (the working directory, logging, structlog,
warnings, the excepthook, signal handlers) is put back afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import traceback
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import structlog
from typer.testing import CliRunner

from filerelay.cli import app

_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


@contextlib.contextmanager
def _process_state_kept(cwd: Path) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, last_resort = root.handlers[:], root.level, logging.lastResort
    levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    structlog_config = structlog.get_config()
    showwarning, excepthook = warnings.showwarning, sys.excepthook
    handlers_of = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    before = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(before)
        for sig, handler in handlers_of.items():
            signal.signal(sig, handler)
        warnings.showwarning, sys.excepthook = showwarning, excepthook
        structlog.configure(**structlog_config)
        for name, logger in logging.root.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                logger.setLevel(levels.get(name, logging.NOTSET))
        root.handlers[:], logging.lastResort = handlers, last_resort
        root.setLevel(level)


def invoke_filerelay(
    args: tuple[str, ...] | list[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """``filerelay ARGS`` in this process, in ``cwd``, with exactly ``env``'s FILERELAY_*
    variables (the others of this process are unset for the run)."""
    overrides: dict[str, Any] = {k: None for k in os.environ if k.startswith("FILERELAY_")}
    overrides.update(env)
    with _process_state_kept(cwd):
        result = CliRunner().invoke(app, list(args), env=overrides, prog_name="python -m filerelay")
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(
        ["filerelay", *args], result.exit_code, result.stdout, stderr
    )
