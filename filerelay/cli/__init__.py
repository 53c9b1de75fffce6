"""The ``filerelay`` command: one typer app, one module per command group.

Each command's module is imported only when that command runs (or its own ``--help`` is
asked for): importing them all (celery, boto3, the store and its migrations, alerting,
reports) cost every command about 1.5 s before it did anything. ``filerelay --help`` lists
the commands from :data:`COMMANDS`, whose help texts a test checks against the modules'.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from filerelay import __version__

#: ``Exit.FAILURES`` of :mod:`filerelay.cli.common` (not imported here: it is not light).
_EXIT_FAILURES = 1


@dataclass(frozen=True)
class Lazy:
    """A command whose implementation is ``module.attr``: a typer app (a command group) or a
    command function; ``help`` is what ``filerelay --help`` shows for it."""

    module: str
    attr: str
    help: str

    def load(self, name: str) -> Any:
        target = getattr(importlib.import_module(f"filerelay.cli.{self.module}"), self.attr)
        if isinstance(target, typer.Typer):
            command: Any = typer.main.get_group(target)
        else:
            single = typer.Typer(add_completion=False)
            single.command(name)(target)
            command = typer.main.get_command(single)
        command.name = name
        return command


#: Every command but ``version``, in the order ``filerelay --help`` lists them.
COMMANDS: dict[str, Lazy] = {
    "report": Lazy(
        "reports",
        "report",
        "Report files, bytes, sizes, throughput, latency, failures, capacity and SLOs.",
    ),
    "watch": Lazy(
        "watch",
        "watch",
        "Watch the configured sources and publish one ingest task per stable file.",
    ),
    "worker": Lazy(
        "worker",
        "worker",
        "Run a worker; scale out by starting more (on any host sharing the broker and store).",
    ),
    "run": Lazy(
        "run",
        "run",
        "Run the watcher, the reconciler and the alert evaluator (when the config has alert\n"
        "rules) here, and a worker as a child process (restarted if it dies), on the same "
        "settings;\nand the HTTP API on 127.0.0.1:8700 unless --no-serve (an admin token is "
        "made on the first\nstart and its console URL printed once).",
    ),
    "serve": Lazy(
        "serve",
        "serve",
        "Serve the HTTP API over the deployment's store, broker and config (stateless: run\n"
        "several behind a load balancer).",
    ),
    "reconcile": Lazy(
        "reconcile",
        "reconcile",
        "Re-drive work the broker lost, fail poison steps, re-ingest unrouted events.",
    ),
    "reprocess": Lazy(
        "reprocess",
        "reprocess_cmd",
        "Queue events again: failed ones get a new run of their pipelines.",
    ),
    "submit": Lazy(
        "submit",
        "submit_cmd",
        "Send files through the routes now, even if unchanged since last processed.",
    ),
    "cancel": Lazy(
        "cancel",
        "cancel_cmd",
        "Cancel: pending steps are cancelled at once, a running step stops at its next\n"
        "checkpoint (a script gets SIGTERM), the pipeline fails with 'cancelled by user@host'.\n"
        "With --compensate the completed steps are undone first (the uploaded object deleted...).",
    ),
    "status": Lazy(
        "status",
        "status",
        "Queue depth, workers, agents, recent counts and the oldest pending event.",
    ),
    "pause": Lazy(
        "pause",
        "pause",
        "Hold new files of a source (or of every source) in the watcher until resumed.",
    ),
    "resume": Lazy(
        "pause",
        "resume",
        "Release the files held while paused, in the order they were detected.",
    ),
    "health": Lazy("health", "health", "Probe: exit 0 if healthy, else 1, with a one-line reason."),
    "flower": Lazy(
        "flower", "flower", "Start Flower, the Celery web monitor, on the configured broker."
    ),
    "rules": Lazy("rules", "app", "Validate and inspect pipeline rules."),
    "db": Lazy("db", "app", "Metadata store maintenance."),
    "alerts": Lazy("alerts", "app", "Alerting: evaluate rules, test channels, list states."),
    "breakers": Lazy(
        "breakers",
        "app",
        "Circuit breakers of destinations: each one's state (closed, open until when, "
        "half_open), consecutive failures, opens and last error; close one by hand.",
    ),
    "config": Lazy(
        "fleet",
        "config_app",
        "The config center: versions in the store, assigned to agents started with --config store.",
    ),
    "agents": Lazy("fleet", "agents_app", "The fleet's agents (watchers and workers)."),
    "slo": Lazy("reports", "slo_app", "Service level objectives (the config's 'slos:')."),
    "tokens": Lazy("tokens", "app", "API tokens (roles: viewer, operator, admin)."),
    "audit": Lazy("audit", "app", "The audit log of mutations and refused authentications."),
    "events": Lazy("events", "app", "Inspect recorded file events."),
}

#: Where ``version`` (defined here) comes in the listing.
_VERSION_AFTER = "flower"


class _Listed(TyperCommand):
    """A command not imported yet: its name and help, for the listing of ``--help``."""


class LazyGroup(TyperGroup):
    """The top-level group: imports a command's module when the command is resolved."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        eager = dict(self.commands)
        self.commands.clear()
        for name, lazy in COMMANDS.items():
            self.commands[name] = _Listed(name, help=lazy.help)
            if name == _VERSION_AFTER:
                self.commands.update(eager)
        self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if isinstance(command, _Listed) and not self._listing:
            command = self.commands[cmd_name] = COMMANDS[cmd_name].load(cmd_name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="filerelay",
    cls=LazyGroup,
    help="Watch directories and run routed pipelines on each completely written file.\n\n"
    "Exit codes: 0 ok, 1 failures found, 2 usage or config error, 3 cannot connect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    # a callback keeps the app a group although only ``version`` is registered with typer
    pass


@app.command("version")
def version() -> None:
    """Print the filerelay version."""
    typer.echo(__version__)


def _import_structlog_without_rich() -> None:
    """Import structlog before anything else does, hiding rich from it: ``structlog.dev``
    imports rich (and pygments, ~4.5 MB in every process) at import only to offer rich
    tracebacks, and filerelay's console renderer formats tracebacks plainly
    (:func:`filerelay.logs.configure_logging`). rich stays importable afterwards (typer's
    help, the tables of ``status``)."""
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # import rich -> ImportError
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]


def main() -> None:
    """Console-script entry point."""
    _import_structlog_without_rich()
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(_EXIT_FAILURES) from None
