"""Queries on ``sources``: the auto-upload switch of each source (``pause`` / ``resume``).

Watchers register their sources (name and root) when they start and poll the paused set in
a background thread; the switch survives restarts because it lives here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from filerelay.store.rows import SourceRow
from filerelay.store.schema import sources


def register(conn: Connection, name: str, root: str | None, now: datetime) -> None:
    """Insert the source, or update its root; the paused flag is left as it is."""
    found = conn.execute(select(sources.c.root).where(sources.c.name == name)).first()
    if found is None:
        conn.execute(insert(sources).values(name=name, root=root, paused=False, updated_at=now))
    elif root is not None and found[0] != root:
        conn.execute(
            update(sources).where(sources.c.name == name).values(root=root, updated_at=now)
        )


def set_paused(conn: Connection, name: str, paused: bool, by: str, now: datetime) -> bool:
    """Switch a source; False when it already was in that position."""
    current = conn.execute(select(sources.c.paused).where(sources.c.name == name)).first()
    if current is None:
        conn.execute(
            insert(sources).values(
                name=name,
                paused=paused,
                paused_at=now if paused else None,
                paused_by=by if paused else None,
                updated_at=now,
            )
        )
        return paused
    if bool(current[0]) == paused:
        return False
    conn.execute(
        update(sources)
        .where(sources.c.name == name)
        .values(
            paused=paused,
            paused_at=now if paused else None,
            paused_by=by if paused else None,
            updated_at=now,
        )
    )
    return True


def paused_names(conn: Connection) -> set[str]:
    """Names of the paused sources."""
    query = select(sources.c.name).where(sources.c.paused.is_(True))
    return {str(name) for name in conn.execute(query).scalars()}


def all_rows(conn: Connection) -> list[SourceRow]:
    """Every known source, by name."""
    query = select(sources).order_by(sources.c.name)
    return [SourceRow.of(r) for r in conn.execute(query).mappings()]
