"""``filerelay reconcile``: the reconciler loop (one per deployment; extra ones stand by)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import structlog
import typer

from filerelay.cli.common import CONFIG_OPTION, load_checked, run_guarded, settings_for
from filerelay.cli.watch import install_stop_handlers
from filerelay.fleet.identity import agent_id
from filerelay.model import FileEvent
from filerelay.ops.queue_depth import build_sampler
from filerelay.pipeline.reconciler import Reconciler
from filerelay.pipeline.runtime import build_runtime
from filerelay.settings import Settings
from filerelay.tasks import make_celery
from filerelay.tasks.publisher import CeleryWorkPublisher
from filerelay.watcher.audit import unrecorded_files

log = structlog.get_logger("filerelay.cli")


def build_reconciler(settings: Settings) -> Reconciler:
    """A reconciler on these settings, auditing the sources on this host's disk and
    sampling the queue depths of the deployment once a minute."""
    runtime = run_guarded(lambda: build_runtime(settings))

    def audit() -> Iterator[FileEvent]:
        sources = runtime.rules.loaded.model.sources
        min_age_s = max(s.silence for s in sources) + settings.reconcile_grace_s
        return unrecorded_files(sources, runtime.store, min_age_s)

    app = make_celery(settings)
    sampler = build_sampler(settings, runtime.store, app)
    return Reconciler(
        runtime,
        CeleryWorkPublisher(app, settings.queue, agent_id(settings)),
        interval_s=settings.reconcile_interval_s,
        grace_s=settings.reconcile_grace_s,
        orphan_upload_age_s=settings.orphan_upload_age_s,
        audit=audit,
        audit_interval_s=settings.audit_interval_s,
        sampler=sampler.tick,
    )


def start_reconciler(settings: Settings, stop: threading.Event) -> threading.Thread:
    """The reconciler in a daemon thread of this process (as ``filerelay run`` does)."""
    reconciler = build_reconciler(settings)
    thread = threading.Thread(target=reconciler.run, args=(stop,), name="reconciler", daemon=True)
    thread.start()
    return thread


def reconcile(
    config: Path | None = CONFIG_OPTION,
    once: bool = typer.Option(False, "--once", help="One pass, print what it did, exit."),
) -> None:
    """Re-drive work the broker lost, fail poison steps, re-ingest unrouted events.

    Runs as a loop; several may run, one works (a lock in the store). Example:
    FILERELAY_BROKER_URL=redis://127.0.0.1:6379/0 filerelay reconcile -c pipeline.yaml
    """
    settings = settings_for(config)
    load_checked(settings, check_paths=False)
    if once:
        done = build_reconciler(settings).run_once()
        typer.echo(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in vars(done).items()))
        return
    stop = threading.Event()
    install_stop_handlers(stop)
    log.info("reconciler_starting")
    start_reconciler(settings, stop).join()
