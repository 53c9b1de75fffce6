"""The evaluator as a service: built from settings and the loaded config, run every
``alerts.interval`` until stopped, in one process of the deployment (a lock in the store;
others stand by), as ``filerelay alerts run`` or a thread of ``filerelay run``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import structlog

from filerelay.alerting.channels import Channels
from filerelay.alerting.evaluator import Evaluator
from filerelay.alerting.measures import Inputs
from filerelay.alerting.repo import AlertStore
from filerelay.config.alerts import AlertsConfig, BacklogRule
from filerelay.config.loader import LoadedConfig
from filerelay.errors import ConfigError
from filerelay.settings import Settings
from filerelay.store import ensure_schema, make_engine
from filerelay.store.locks import SingletonLock

log = structlog.get_logger("filerelay.alerts")

LOCK_NAME = "filerelay-alerts"


def alerts_of(loaded: LoadedConfig) -> AlertsConfig:
    """The config's ``alerts:`` section, or a ConfigError saying it has none."""
    alerts = loaded.model.alerts
    if alerts is None:
        raise ConfigError(f"{loaded.path}: no 'alerts:' section")
    return alerts


def channels_for(loaded: LoadedConfig) -> Channels:
    """The config's alert channels, ready to send."""
    return Channels(alerts_of(loaded).channels, loaded.model.connections)


def open_store(settings: Settings) -> AlertStore:
    """The store (schema ensured) the evaluator works on."""
    engine = make_engine(settings.resolved_database_url())
    ensure_schema(engine, auto_upgrade=settings.db_auto_upgrade)
    return AlertStore(engine)


def _queue_depth(settings: Settings, alerts: AlertsConfig) -> Callable[[], int] | None:
    wanted = any(isinstance(r, BacklogRule) and r.max_queue_depth is not None for r in alerts.rules)
    if not wanted:
        return None
    from filerelay.tasks import make_celery
    from filerelay.tasks.publisher import queue_depth

    app = make_celery(settings)
    return lambda: queue_depth(app, settings.queue)


def build_evaluator(
    settings: Settings, loaded: LoadedConfig, store: AlertStore | None = None
) -> Evaluator:
    """An evaluator for the config's alerts on the settings' store and broker."""
    alerts = alerts_of(loaded)
    store = store or open_store(settings)
    sources = [s.name for s in loaded.model.sources]
    inputs = Inputs(store, sources, _queue_depth(settings, alerts))
    return Evaluator(alerts, store, channels_for(loaded), inputs)


def run_evaluator(
    evaluator: Evaluator,
    stop: threading.Event,
    reload: Callable[[Evaluator], Evaluator] | None = None,
) -> None:
    """Evaluate every interval until ``stop``, while this process holds the alerts lock;
    ``reload`` may swap the evaluator between intervals (the config file changed)."""
    lock = SingletonLock(evaluator.store.engine, LOCK_NAME)
    log.info(
        "alerts_starting", rules=len(evaluator.config.rules), interval_s=evaluator.config.interval
    )
    try:
        while not stop.is_set():
            if reload is not None:
                evaluator = reload(evaluator)
            interval = evaluator.config.interval
            if lock.acquire():
                try:
                    report: Any = evaluator.evaluate_once()
                    log.debug("alerts_evaluated", **vars(report))
                except Exception:  # the store is away: try again next interval
                    log.warning("alerts_evaluation_failed", exc_info=True)
            stop.wait(interval)
    finally:
        lock.release()
        evaluator.channels.close()


def start_alerts(
    settings: Settings,
    loaded: LoadedConfig,
    stop: threading.Event,
    load: Callable[[], LoadedConfig] | None = None,
) -> threading.Thread | None:
    """The evaluator in a daemon thread of this process (``filerelay run``); None when the
    config has no alert rules. With ``load`` (the config loader), the rules are reloaded
    whenever the config file changes."""
    if loaded.model.alerts is None or not loaded.model.alerts.rules:
        return None
    evaluator = build_evaluator(settings, loaded)
    thread = threading.Thread(
        target=run_evaluator,
        args=(evaluator, stop, Reloader(settings, loaded.path, load) if load else None),
        name="alerts",
        daemon=True,
    )
    thread.start()
    return thread


class Reloader:
    """Rebuilds the evaluator when the config file changed on disk (a new version pushed
    through the API, or edited): alert rules reload without a restart. A config that no
    longer validates, or has no ``alerts:`` section, keeps the running rules (logged)."""

    def __init__(self, settings: Settings, path: Any, load: Callable[[], LoadedConfig]) -> None:
        self.settings = settings
        self.path = path
        self.load = load
        self.stamp = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def __call__(self, evaluator: Evaluator) -> Evaluator:
        stamp = self._stamp()
        if stamp is None or stamp == self.stamp:
            return evaluator
        self.stamp = stamp
        try:
            loaded = self.load()
            fresh = build_evaluator(self.settings, loaded, evaluator.store)
        except Exception as exc:  # a broken or alert-less config: keep the running rules
            log.warning("alerts_not_reloaded", error=str(exc).splitlines()[0])
            return evaluator
        evaluator.channels.close()
        log.info("alerts_reloaded", rules=len(fresh.config.rules))
        return fresh


def test_channels(loaded: LoadedConfig, store: AlertStore | None) -> dict[str, str | None]:
    """Send a test message on every channel: ``{name: None or the error}``; each send is
    recorded in ``notifications`` when a store is given."""
    from filerelay.alerting.messages import test_alert
    from filerelay.store.db import utcnow

    channels = channels_for(loaded)
    results: dict[str, str | None] = {}
    try:
        for name in channels.names:
            alert = test_alert(utcnow())
            try:
                channels.send(name, alert)
                results[name] = None
            except Exception as exc:  # report every channel, whatever failed
                results[name] = str(exc) or type(exc).__name__
            if store is not None:
                store.record_notification(
                    alert.now,
                    kind="alert:test",
                    channel=name,
                    target=channels.target(name),
                    subject=alert.title,
                    body=alert.text,
                    error=results[name],
                )
    finally:
        channels.close()
    return results


def rule_states(alerts: AlertsConfig, store: AlertStore) -> list[dict[str, Any]]:
    """Each configured rule's state (``alerts list``)."""
    from filerelay.alerting.evaluator import rule_state

    return [rule_state(rule, store.states(rule.name)) for rule in alerts.rules]
