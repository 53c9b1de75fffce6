"""Metrics for each entry point: what is measured, what is served, and by which process.

* ``filerelay watch``: the watcher's metrics and the queue depth, served in-process;
* ``filerelay worker``: with the prefork pool, every pool child writes its values to a fresh
  private multiprocess directory and the parent serves their sum (plus the queue depth);
  threads/solo pools serve in-process metrics;
* ``filerelay run``: the parent serves the watcher's metrics, the queue depth and the worker
  child's multiprocess files (the child gets ``--metrics-dir`` and serves nothing).

Nothing happens unless the metrics port is set (``--metrics-port`` /
``FILERELAY_METRICS_PORT``): prometheus_client and the collectors are imported only then.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filerelay.settings import Settings
from filerelay.watcher.hooks import WatcherHookList

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from filerelay.metrics.collectors import QueueDepthCollector
    from filerelay.metrics.server import MetricsServer
    from filerelay.metrics.worker import WorkerMetricsHook


def queue_depth_collector(settings: Settings, app: Any = None) -> QueueDepthCollector:
    """The broker queue depths of ``settings.queue`` and of this host's queue (where its
    ingests and file steps wait), read through ``app`` (built if None)."""
    from filerelay.fleet.identity import worker_queues
    from filerelay.metrics.collectors import QueueDepthCollector
    from filerelay.tasks.app import make_celery
    from filerelay.tasks.publisher import queue_depth

    celery = app if app is not None else make_celery(settings)
    return QueueDepthCollector(lambda queue: queue_depth(celery, queue), worker_queues(settings))


@dataclass
class WatcherMetricsSetup:
    """The watcher's hooks, and the server when metrics are on."""

    hooks: WatcherHookList
    server: MetricsServer | None = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def start_watcher_metrics(
    settings: Settings, worker_dir: Path | None = None
) -> WatcherMetricsSetup:
    """Serve the watcher's metrics (and, for ``filerelay run``, the worker child's files in
    ``worker_dir``) when the metrics port is set; else no-op hooks."""
    if settings.metrics_port is None:
        return WatcherMetricsSetup(WatcherHookList())
    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

    from filerelay.metrics import multiproc
    from filerelay.metrics.breakers import breaker_collector
    from filerelay.metrics.registry import watcher_metrics
    from filerelay.metrics.server import serve
    from filerelay.metrics.watcher import WatcherMetricsHook

    registry = CollectorRegistry()
    hook = WatcherMetricsHook(watcher_metrics(registry))
    extra: list[Collector] = [hook, queue_depth_collector(settings)]
    if worker_dir is not None:
        extra.append(multiproc.ReapingCollector(worker_dir))
        extra.append(breaker_collector(settings.resolved_database_url()))
    for collector in extra:
        registry.register(collector)
    server = serve(registry, settings.metrics_host, settings.metrics_port)
    return WatcherMetricsSetup(WatcherHookList([hook]), server)


@dataclass
class WorkerMetricsSetup:
    """The worker's hook; the multiprocess directory and the registry this process serves."""

    hook: WorkerMetricsHook
    path: Path | None  # multiprocess directory (None: in-process values)
    owned: bool  # created by this worker: removed when it stops
    registry: CollectorRegistry | None  # served here (None: a parent process serves)
    server: MetricsServer | None = None


def worker_metrics_setup(
    settings: Settings, pool: str, metrics_dir: Path | None = None
) -> WorkerMetricsSetup | None:
    """Prepare the worker's metrics before the Celery app and its pool exist.

    ``metrics_dir``: write multiprocess files there and serve nothing (the worker child of
    ``filerelay run``). Else, with a metrics port: prefork uses a fresh private directory
    served by this (parent) process; threads/solo serve in-process values.
    """
    if metrics_dir is None and settings.metrics_port is None:
        return None
    from prometheus_client import CollectorRegistry

    from filerelay.metrics import multiproc
    from filerelay.metrics.registry import worker_metrics
    from filerelay.metrics.worker import WorkerMetricsHook

    if metrics_dir is not None:
        multiproc.enable(metrics_dir)
        return WorkerMetricsSetup(WorkerMetricsHook(worker_metrics(None)), metrics_dir, False, None)
    if pool == "prefork":
        path = multiproc.fresh_dir()
        multiproc.enable(path)
        hook = WorkerMetricsHook(worker_metrics(None))
        return WorkerMetricsSetup(hook, path, True, multiproc.served_registry(path))
    registry = CollectorRegistry()
    return WorkerMetricsSetup(WorkerMetricsHook(worker_metrics(registry)), None, False, registry)


def start_worker_metrics(setup: WorkerMetricsSetup, app: Any, settings: Settings) -> None:
    """Serve (binding the port before the pool forks: a port in use fails the start) and
    connect the Celery signals that keep the figures right across pool children."""
    from filerelay.metrics import multiproc
    from filerelay.metrics.breakers import breaker_collector
    from filerelay.metrics.celery_signals import connect
    from filerelay.metrics.server import serve

    if setup.registry is not None and settings.metrics_port is not None:
        setup.registry.register(queue_depth_collector(settings, app))
        setup.registry.register(breaker_collector(settings.resolved_database_url()))
        try:
            setup.server = serve(setup.registry, settings.metrics_host, settings.metrics_port)
        except BaseException:
            if setup.owned and setup.path is not None:
                multiproc.remove(setup.path)
            raise
    connect(setup, os.getpid())
