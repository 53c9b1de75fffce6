"""A Celery app with filerelay's own Celery settings and two trivial tasks, for the
``pipeline_ceiling`` baselines: ``land`` counts itself in Redis (one task per file), ``hop``
publishes ``land`` (a two-task chain per file). Run by ``celery -A bench.celery_noop
worker``; the broker comes from ``BENCH_BROKER_URL``.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

from filerelay.settings import Settings
from filerelay.tasks.app import celery_config

COUNTER = "bench:landed"


def client_app(broker_url: str) -> Celery:
    """An app with filerelay's Celery settings and no tasks (to publish with)."""
    app = Celery("bench_noop", set_as_current=False)
    app.conf.update(celery_config(Settings(broker_url=broker_url)))
    return app


def make_app(broker_url: str) -> Celery:
    """The worker's app: ``hop`` and ``land``."""
    app = client_app(broker_url)
    counter = redis.Redis.from_url(broker_url)

    @app.task(name="bench.land", ignore_result=True)
    def land() -> None:
        counter.incr(COUNTER)

    @app.task(name="bench.hop", ignore_result=True)
    def hop() -> None:
        land.apply_async(queue=app.conf.task_default_queue)

    return app


app = make_app(os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"))
