"""``filerelay worker``: a Celery worker running filerelay's tasks."""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from celery import signals
from celery.utils.log import mlevel
from celery.utils.nodenames import default_nodename, host_format

from filerelay.cli.common import (
    CONFIG_OPTION,
    load_checked,
    run_guarded,
    settings_for,
)
from filerelay.cli.watch import METRICS_PORT_OPTION
from filerelay.fleet.identity import worker_queues
from filerelay.logs import configure_logging
from filerelay.metrics.setup import start_worker_metrics, worker_metrics_setup
from filerelay.settings import Settings
from filerelay.store import ensure_schema, make_engine
from filerelay.store.migrate import upgrade_apart
from filerelay.tasks import make_celery
from filerelay.tasks.pool import resting_pool


def worker(
    config: Path | None = CONFIG_OPTION,
    concurrency: int | None = typer.Option(None, "--concurrency", "-C", help="Processes/threads."),
    pool: str | None = typer.Option(None, "--pool", "-P", help="prefork | threads | solo"),
    hostname: str | None = typer.Option(None, "--hostname", "-n", help="Worker node name."),
    metrics_port: int | None = METRICS_PORT_OPTION,
    metrics_dir: Path | None = typer.Option(
        None, "--metrics-dir", hidden=True, help="Write metrics there, serve none (`run`)."
    ),
) -> None:
    """Run a worker; scale out by starting more (on any host sharing the broker and store).

    Example: FILERELAY_BROKER_URL=redis://127.0.0.1:6379/0 filerelay worker -c pipeline.yaml -C 8
    """
    settings = settings_for(config, metrics_port=metrics_port)
    load_checked(settings)
    start_worker(
        settings, concurrency=concurrency, pool=pool, hostname=hostname, metrics_dir=metrics_dir
    )


def start_worker(
    settings: Settings,
    *,
    concurrency: int | None = None,
    pool: str | None = None,
    hostname: str | None = None,
    metrics_dir: Path | None = None,
) -> None:
    """Prepare the store and run a Celery worker in this process until it stops.

    Metrics (a metrics port, or ``metrics_dir`` from ``filerelay run``) are set up before the
    app and its pool exist: a prefork pool's children must fork in multiprocess mode."""
    # worker children load the same config (prefork forks; `celery -A` reads the env)
    os.environ["FILERELAY_CONFIG"] = str(Path(str(settings.config)).resolve())
    if settings.db_auto_upgrade:  # alembic in a passing child, not here nor in the pool
        upgrade_apart(settings.resolved_database_url())
    engine = make_engine(settings.resolved_database_url())
    run_guarded(lambda: ensure_schema(engine, auto_upgrade=settings.db_auto_upgrade))
    engine.dispose()

    @signals.setup_logging.connect(weak=False)
    def _logging(**_: Any) -> None:  # keep Celery from installing its own handlers
        configure_logging(settings.log_format, settings.log_level)

    pool = pool or settings.worker_pool
    pool_cls: str | type = pool
    if pool == "prefork" and settings.embedded_broker and settings.worker_idle_exit_s > 0:
        pool_cls = resting_pool(settings.worker_idle_exit_s)
    metrics = worker_metrics_setup(settings, pool, metrics_dir)
    app = make_celery(settings, [metrics.hook] if metrics else [])
    if metrics is not None:
        run_guarded(lambda: start_worker_metrics(metrics, app, settings))

    # the worker itself, as `celery worker` builds it, without Celery's click CLI: that one
    # imports every `celery.commands` plugin (Flower, with tornado and redis) and click-repl's
    # prompt_toolkit here and, by fork, in every pool process (~20 MB each)
    celery_worker = app.Worker(
        hostname=host_format(default_nodename(hostname)),
        pool_cls=pool_cls,
        loglevel=mlevel(settings.log_level),
        queues=worker_queues(settings),
        without_mingle=True,
        without_gossip=True,
        concurrency=concurrency or settings.worker_concurrency or None,
        optimization="default",
    )
    # what is loaded by now the pool's processes inherit: out of the collector's reach, the
    # pages holding it stay shared with them instead of being copied when a collection
    # touches each object's header
    gc.freeze()
    try:
        celery_worker.start()
    except SystemExit as exc:
        _exit_now(exc.code)
    _exit_now(celery_worker.exitcode)


def _exit_now(code: object) -> NoReturn:
    """Leave once Celery has stopped: its pool processes are joined, its messages acked or
    returned, the agent marked stopped. The interpreter's own exit would run billiard's
    finalizer, which joins the pool's handler threads that sleep in 1 s steps — about 2 s
    more of a stop that has nothing left to do."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)
