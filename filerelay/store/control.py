"""Queries of the control plane: API tokens, the audit log, server secrets, config versions,
log records and alert acknowledgements (the tables of migration 0009)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, and_, cast, delete, func, insert, or_, select, update

from filerelay.store.schema import (
    alert_acks,
    api_tokens,
    audit_log,
    config_versions,
    log_records,
    server_secrets,
)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One API token (its hash never leaves the store)."""

    id: str
    name: str
    role: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


_TOKEN_COLUMNS = [c for c in api_tokens.c if c.name != "token_hash"]


def insert_token(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(api_tokens).values(**values))


def token_by_hash(conn: Connection, token_hash: str) -> TokenRecord | None:
    row = (
        conn.execute(select(*_TOKEN_COLUMNS).where(api_tokens.c.token_hash == token_hash))
        .mappings()
        .first()
    )
    return TokenRecord(**row) if row is not None else None


def token_by_name(conn: Connection, name: str) -> TokenRecord | None:
    row = conn.execute(select(*_TOKEN_COLUMNS).where(api_tokens.c.name == name)).mappings().first()
    return TokenRecord(**row) if row is not None else None


def tokens(conn: Connection) -> list[TokenRecord]:
    rows = conn.execute(select(*_TOKEN_COLUMNS).order_by(api_tokens.c.created_at)).mappings()
    return [TokenRecord(**r) for r in rows]


def live_token_count(conn: Connection, now: datetime) -> int:
    query = select(func.count()).where(
        api_tokens.c.revoked_at.is_(None),
        or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
    )
    return int(conn.execute(query).scalar() or 0)


def revoke_token(conn: Connection, name: str, now: datetime) -> bool:
    done = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return done.rowcount == 1


def touch_token(conn: Connection, token_id: str, now: datetime) -> None:
    conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now))


def secret(conn: Connection, name: str) -> str | None:
    query = select(server_secrets.c.value).where(server_secrets.c.name == name)
    value = conn.execute(query).scalar()
    return str(value) if value is not None else None


def insert_secret(conn: Connection, name: str, value: str, now: datetime) -> None:
    conn.execute(insert(server_secrets).values(name=name, value=value, created_at=now))


# --- audit ---------------------------------------------------------------------------------


def insert_audit(conn: Connection, values: dict[str, Any]) -> int:
    done = conn.execute(insert(audit_log).values(**values).returning(audit_log.c.id))
    return int(done.scalar_one())


@dataclass(frozen=True)
class AuditFilter:
    """What ``audit list`` selects; every field optional."""

    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None


def audit_page(
    conn: Connection, flt: AuditFilter, limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` audit rows newest first, with ids below ``before_id``."""
    terms: list[Any] = []
    if flt.actor:
        terms.append(audit_log.c.actor == flt.actor)
    if flt.action:
        terms.append(audit_log.c.action == flt.action)
    if flt.since:
        terms.append(audit_log.c.at >= flt.since)
    if flt.until:
        terms.append(audit_log.c.at < flt.until)
    if flt.outcome == "ok":
        terms.append(audit_log.c.outcome == "ok")
    elif flt.outcome == "refused":
        terms.append(audit_log.c.outcome != "ok")
    if before_id is not None:
        terms.append(audit_log.c.id < before_id)
    query = select(audit_log).where(*terms).order_by(audit_log.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def prune_audit(conn: Connection, before: datetime) -> int:
    return int(conn.execute(delete(audit_log).where(audit_log.c.at < before)).rowcount or 0)


# --- config versions -------------------------------------------------------------------------


def insert_version(conn: Connection, values: dict[str, Any]) -> int:
    done = conn.execute(
        insert(config_versions).values(**values).returning(config_versions.c.version)
    )
    return int(done.scalar_one())


def versions(conn: Connection, limit: int) -> list[dict[str, Any]]:
    query = (
        select(*[c for c in config_versions.c if c.name != "text"])
        .order_by(config_versions.c.version.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def version(conn: Connection, number: int | None) -> dict[str, Any] | None:
    query = select(config_versions)
    if number is None:
        query = query.order_by(config_versions.c.version.desc()).limit(1)
    else:
        query = query.where(config_versions.c.version == number)
    row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


# --- log records -----------------------------------------------------------------------------


def insert_logs(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(log_records), rows)


@dataclass(frozen=True)
class LogFilter:
    """What ``logs`` selects; every field optional."""

    agent: str | None = None
    level: str | None = None
    event: str | None = None
    search: str | None = None


def log_page(
    conn: Connection, flt: LogFilter, limit: int, before_id: int | None, after_id: int | None
) -> list[dict[str, Any]]:
    """Log records newest first (``before_id``), or oldest first after ``after_id``."""
    terms: list[Any] = []
    if flt.agent:
        terms.append(log_records.c.agent == flt.agent)
    if flt.level:
        terms.append(log_records.c.level == flt.level)
    if flt.event:
        terms.append(log_records.c.event == flt.event)
    if flt.search:
        like = "%" + flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        terms.append(func.lower(cast(log_records.c.fields, Text)).like(like.lower(), escape="\\"))
    order = log_records.c.id.desc()
    if before_id is not None:
        terms.append(log_records.c.id < before_id)
    if after_id is not None:
        terms.append(log_records.c.id > after_id)
        order = log_records.c.id.asc()
    query = select(log_records).where(*terms).order_by(order).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def cap_logs(conn: Connection, keep: int) -> int:
    """Delete all but the newest ``keep`` log records."""
    edge = conn.execute(
        select(log_records.c.id).order_by(log_records.c.id.desc()).offset(keep).limit(1)
    ).scalar()
    if edge is None:
        return 0
    return int(conn.execute(delete(log_records).where(log_records.c.id <= edge)).rowcount or 0)


# --- alert acknowledgements ------------------------------------------------------------------


def acks(conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
    rows = conn.execute(select(alert_acks)).mappings()
    return {(r["rule"], r["instance"]): dict(r) for r in rows}


def upsert_ack(conn: Connection, rule: str, instance: str, values: dict[str, Any]) -> None:
    key = and_(alert_acks.c.rule == rule, alert_acks.c.instance == instance)
    if conn.execute(select(alert_acks.c.rule).where(key)).first() is None:
        conn.execute(insert(alert_acks).values(rule=rule, instance=instance, **values))
    else:
        conn.execute(update(alert_acks).where(key).values(**values))
