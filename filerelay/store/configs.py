"""Queries on ``routing_configs``: the text of each loaded pipeline config, by SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from filerelay.store.schema import routing_configs


def save(conn: Connection, sha256: str, text: str, path: str | None, now: datetime) -> None:
    """Insert the config unless a row with this SHA-256 exists (the text is then identical)."""
    query = select(routing_configs.c.sha256).where(routing_configs.c.sha256 == sha256)
    if conn.execute(query).first() is None:
        conn.execute(
            insert(routing_configs).values(sha256=sha256, text=text, path=path, loaded_at=now)
        )


def text_of(conn: Connection, sha256: str) -> str | None:
    query = select(routing_configs.c.text).where(routing_configs.c.sha256 == sha256)
    return conn.execute(query).scalar()
