"""Prometheus metrics of the watcher and the workers (``--metrics-port``).

* :mod:`filerelay.metrics.registry`: every metric's definition, built by a factory;
* :mod:`filerelay.metrics.watcher` / :mod:`filerelay.metrics.worker`: the hook objects that
  the watcher and the runner call, and the collectors read at scrape time;
* :mod:`filerelay.metrics.multiproc`: prometheus_client's multiprocess mode for the prefork
  pool; :mod:`filerelay.metrics.server`: the ``/metrics`` HTTP endpoint.

Importing this package reads nothing and starts nothing; the entry points call
:func:`filerelay.metrics.setup.watcher_metrics_for` / :func:`~filerelay.metrics.setup.worker_setup`.
"""
