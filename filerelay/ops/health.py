"""``filerelay health``: a probe for compose and Kubernetes — exit 0 or 1 with one line.

Checks, in order: the broker accepts a connection, the store answers at the schema this code
needs, every S3 bucket the routes use answers ``head_bucket`` (``list_buckets`` for an S3
connection no route names a bucket of), and — with a role — an agent of that role on this
host heartbeated recently.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery

from filerelay.config.models import step_slots
from filerelay.settings import Settings
from filerelay.store.migrate import current_revision, head_revision
from filerelay.store.states import AgentState

BROKER_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def check_broker(app: Celery, settings: Settings) -> Check:
    if settings.embedded_broker:
        folder = settings.broker_dir() / "queue"
        ok = folder.is_dir()
        return Check("broker", ok, "" if ok else f"embedded broker folder {folder} missing")
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
    except Exception as exc:
        return Check("broker", False, _line(exc))
    return Check("broker", True)


def check_store(settings: Settings) -> tuple[Check, Any]:
    """The store check and, when it passed, an open :class:`Store`."""
    from filerelay.store import Store, make_engine

    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    engine = make_engine(settings.resolved_database_url(), **_short_connect(settings))
    try:
        current = current_revision(engine)
    except Exception as exc:
        engine.dispose()
        return Check("store", False, _line(exc)), None
    if current != head_revision():
        engine.dispose()
        return Check("store", False, f"schema at {current}, needs {head_revision()}"), None
    return Check("store", True), Store(engine)


def _short_connect(settings: Settings) -> dict[str, Any]:
    url = settings.resolved_database_url()
    return {"connect_args": {"connect_timeout": 3}} if url.startswith("postgresql") else {}


def s3_targets(model: Any) -> list[tuple[str, str | None]]:
    """(connection, bucket) pairs the routes use; (connection, None) for unused ones."""
    conns = [n for n, c in model.connections.items() if getattr(c, "type", "") == "s3"]
    pairs: list[tuple[str, str | None]] = []
    for route in model.routes:
        for _pos, _br, step, _path in step_slots(route.steps):
            cfg: Any = step.action_config
            if step.action == "s3" and (cfg.connection, cfg.bucket) not in pairs:
                pairs.append((cfg.connection, cfg.bucket))
    used = {c for c, _ in pairs}
    return pairs + [(c, None) for c in conns if c not in used]


def check_s3(model: Any) -> list[Check]:
    from filerelay.actions.s3.client import build_client

    checks = []
    for conn_name, bucket in s3_targets(model):
        name = f"s3 {conn_name}/{bucket}" if bucket else f"s3 {conn_name}"
        try:
            client = build_client(model.connections[conn_name])
            if bucket:
                client.head_bucket(Bucket=bucket)
            else:
                client.list_buckets()
        except Exception as exc:
            checks.append(Check(name, False, _line(exc)))
            continue
        checks.append(Check(name, True))
    return checks


def check_agent(store: Any, settings: Settings, role: str) -> Check:
    host = socket.gethostname()
    since = datetime.now(UTC) - timedelta(days=1)
    agents = store.agents(since, role=role, host=host)
    live = [a for a in agents if a.state == AgentState.ONLINE]
    name = f"{role} heartbeat"
    if not live:
        return Check(name, False, f"no {role} on {host} heartbeated in 3 periods")
    age = (datetime.now(UTC) - live[0].last_heartbeat_at).total_seconds()
    return Check(name, True, f"{age:.0f}s ago")


def run_checks(app: Celery, settings: Settings, model: Any, role: str | None) -> list[Check]:
    """Every check that applies; the agent check needs the store."""
    checks = [check_broker(app, settings)]
    store_check, store = check_store(settings)
    checks.append(store_check)
    if model is not None:
        checks += check_s3(model)
    if role is not None:
        unknown = Check(f"{role} heartbeat", False, "store unreachable")
        checks.append(check_agent(store, settings, role) if store else unknown)
    if store is not None:
        store.engine.dispose()
    return checks


def summary(checks: list[Check]) -> tuple[bool, str]:
    """(healthy, one line)."""
    bad = [c for c in checks if not c.ok]
    if bad:
        return False, "unhealthy: " + "; ".join(f"{c.name}: {c.detail}" for c in bad)
    parts = [f"{c.name} {c.detail}".strip() for c in checks]
    return True, "ok: " + ", ".join(parts)


def _line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]
