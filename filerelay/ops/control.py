"""The switches: pause / resume of sources, pruning old events, starting Flower."""

from __future__ import annotations

import getpass
import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from filerelay.errors import UsageError
from filerelay.settings import Settings
from filerelay.store import Store
from filerelay.store.prune import Pruned

PRUNE_BATCH = 500
LOOPBACK = "127.0.0.1"

log = structlog.get_logger("filerelay.ops")


def operator() -> str:
    """Who flipped a switch: user@host."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def known_sources(store: Store, configured: list[str]) -> list[str]:
    """Sources the store knows (watchers register theirs) plus the config's."""
    return sorted({row.name for row in store.sources()} | set(configured))


def switch(store: Store, paused: bool, source: str | None, configured: list[str]) -> list[str]:
    """Pause (or resume) one source, or every known one; the sources that changed."""
    known = known_sources(store, configured)
    if source is not None and source not in known:
        raise UsageError(f"unknown source {source!r} (known: {', '.join(known) or 'none'})")
    targets = [source] if source is not None else known
    if not targets:
        raise UsageError("no source known yet: pass --source NAME or --config FILE")
    who = operator()
    return [name for name in targets if store.set_paused(name, paused, who)]


@dataclass(frozen=True)
class PruneResult:
    pruned: Pruned
    before: datetime
    dry_run: bool


def prune(
    store: Store,
    older_than: timedelta,
    states: list[str],
    dry_run: bool,
    progress: Callable[[int], None] | None = None,
) -> PruneResult:
    """Delete (or count) events older than ``older_than`` in ``states``, in batches."""
    before = datetime.now(UTC) - older_than
    if dry_run:
        return PruneResult(store.prune_count(before, states), before, True)
    total = Pruned()
    while True:
        done = store.prune_batch(before, states, PRUNE_BATCH)
        if not done.events:
            return PruneResult(total, before, False)
        total.add(done)
        if progress is not None:
            progress(done.events)


def flower_argv(port: int, address: str) -> list[str]:
    """The Celery command line that runs Flower."""
    return ["flower", f"--port={port}", f"--address={address}"]


def run_flower(settings: Settings, app: Any, port: int, address: str) -> None:
    """Run Flower against the configured broker until stopped.

    Basic auth comes from ``FILERELAY_FLOWER_BASIC_AUTH`` and reaches Flower through its own
    environment variable, never the command line (``ps`` shows that to every user). Without
    it Flower lets anyone who reaches it see every task and shut the workers down, so it is
    then bound to the loopback address whatever ``address`` says, with a warning.
    """
    auth = settings.flower_basic_auth.get_secret_value() if settings.flower_basic_auth else ""
    if auth:
        os.environ["FLOWER_BASIC_AUTH"] = auth
    else:
        log.warning("flower_without_credentials", hint="set FILERELAY_FLOWER_BASIC_AUTH=user:pass")
        if not is_loopback(address):
            log.warning("flower_bound_to_loopback", asked=address, address=LOOPBACK)
            address = LOOPBACK
    app.start(flower_argv(port, address))


def is_loopback(address: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``; not ``0.0.0.0`` nor a host's own address."""
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False
