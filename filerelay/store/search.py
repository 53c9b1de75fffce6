"""Keyword search's indexes: which events mention a keyword in their path, error, or one of
their pipelines' route or error — by index, not by a scan of every row.

- PostgreSQL: pg_trgm GIN indexes on ``file_events.path``/``reason``/``relpath`` and
  ``pipelines.route``/``error``; ``ILIKE '%…%'`` uses them (and a path glob's ``LIKE``).
  A server without the extension (or a role that may not create it) gets no such index:
  search then scans, as before.
- SQLite: two FTS5 tables with the trigram tokenizer, ``search_events`` (path, reason, relpath) and
  ``search_pipelines`` (route, error), external-content tables over the rows themselves (no
  second copy of the text), kept by triggers in the writing transaction. A phrase of three
  characters or more matches as a case-insensitive substring.

:func:`candidates` answers "which events match" with at most ``cap`` ids; it says when more
match (a common keyword: walking the newest events and testing each finds a page sooner),
or when it cannot answer (a keyword shorter than 3 characters, no index): then each row is
tested.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

log = logging.getLogger(__name__)

#: (index name, table, column) of the PostgreSQL trigram indexes.
PG_INDEXES = (
    ("ix_search_file_events_path", "file_events", "path"),
    ("ix_search_file_events_reason", "file_events", "reason"),
    ("ix_search_file_events_relpath", "file_events", "relpath"),  # path globs (events --path)
    ("ix_search_pipelines_route", "pipelines", "route"),
    ("ix_search_pipelines_error", "pipelines", "error"),
)
#: Length of the path prefix PostgreSQL's prefix index holds (a btree entry must stay small).
PATH_PREFIX_LEN = 512
#: (index name, definition) of PostgreSQL's btree indexes for path globs with a literal
#: prefix (``LIKE 'prefix%'``): trigram indexes answer those slowly when the prefix's
#: trigrams are in every path ('/data/…'), 0.19 s at 1,000,000 events.
PG_PREFIX_INDEXES = (
    ("ix_search_file_events_relpath_prefix", "file_events (relpath varchar_pattern_ops)"),
    (
        "ix_search_file_events_path_prefix",
        f"file_events ((left(path, {PATH_PREFIX_LEN})) text_pattern_ops)",
    ),
)
#: FTS5 tables over SQLite's rows: name → (content table, rowid column, columns).
FTS_TABLES = {
    "search_events": ("file_events", "rowid", ("path", "reason", "relpath")),
    "search_pipelines": ("pipelines", "id", ("route", "error")),
}
#: The fewest characters a keyword needs for the trigram indexes.
MIN_CHARS = 3


def install(conn: Connection) -> None:
    """Create the search indexes of ``conn``'s dialect (and fill them from the rows)."""
    if conn.dialect.name == "postgresql":
        _install_pg(conn)
    elif conn.dialect.name == "sqlite":
        for name, (table, rowid, columns) in FTS_TABLES.items():
            _install_fts(conn, name, table, rowid, columns)


def uninstall(conn: Connection) -> None:
    """Drop what :func:`install` created."""
    if conn.dialect.name == "postgresql":
        for index in [i[0] for i in PG_INDEXES] + [i[0] for i in PG_PREFIX_INDEXES]:
            conn.execute(text(f"DROP INDEX IF EXISTS {index}"))
    elif conn.dialect.name == "sqlite":
        for name in FTS_TABLES:
            for suffix in ("ai", "ad", "au"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {name}_{suffix}"))
            conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


def has_trigram(conn: Connection) -> bool:
    """Whether PostgreSQL's pg_trgm is installed in this database."""
    found = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
    return found is not None


def _install_pg(conn: Connection) -> None:
    for index, definition in PG_PREFIX_INDEXES:
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {index} ON {definition}"))
    if not has_trigram(conn):
        available = conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        ).first()
        if available is not None:
            try:
                with conn.begin_nested():  # a refusal must not abort the migration
                    conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            except Exception as exc:  # no privilege: search scans
                log.warning("pg_trgm not created (%s): keyword search will scan", exc)
        if not has_trigram(conn):
            log.warning("pg_trgm is not available: keyword search will scan")
            return
    for index, table, column in PG_INDEXES:
        conn.execute(
            text(f"CREATE INDEX IF NOT EXISTS {index} ON {table} USING gin ({column} gin_trgm_ops)")
        )


def _install_fts(
    conn: Connection, name: str, table: str, rowid: str, columns: tuple[str, ...]
) -> None:
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns)
    conn.execute(
        text(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING fts5({cols}, "
            f"content='{table}', content_rowid='{rowid}', tokenize='trigram')"
        )
    )
    conn.execute(
        text(
            f"CREATE TRIGGER IF NOT EXISTS {name}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {name}(rowid, {cols}) VALUES (new.{rowid}, {new}); END"
        )
    )
    conn.execute(
        text(
            f"CREATE TRIGGER IF NOT EXISTS {name}_ad AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {name}({name}, rowid, {cols}) VALUES ('delete', old.{rowid}, {old}); "
            f"END"
        )
    )
    conn.execute(
        text(
            f"CREATE TRIGGER IF NOT EXISTS {name}_au AFTER UPDATE OF {cols} ON {table} "
            f"WHEN {changed} BEGIN "
            f"INSERT INTO {name}({name}, rowid, {cols}) VALUES ('delete', old.{rowid}, {old}); "
            f"INSERT INTO {name}(rowid, {cols}) VALUES (new.{rowid}, {new}); END"
        )
    )
    conn.execute(text(f"INSERT INTO {name}({name}) VALUES ('rebuild')"))


def _phrase(keyword: str) -> str:
    return '"' + keyword.replace('"', '""') + '"'


@dataclass(frozen=True)
class Found:
    """What the index says of a keyword: the matching events' ids (at most the cap), or
    None — ``many`` when more match, else the index cannot answer (short keyword, none)."""

    ids: list[str] | None
    many: bool = False


def candidates(conn: Connection, in_names: str, in_text: str, cap: int) -> Found:
    """Ids of the events whose path holds ``in_names`` (the names' stored form) or whose
    error, or a pipeline's route or error, holds ``in_text`` (case-insensitive), when the
    index can tell and they are at most ``cap``. The events' side is asked first: when it
    alone finds too many, the pipelines are not asked."""
    if min(len(in_names), len(in_text)) < MIN_CHARS:
        return Found(None)
    if conn.dialect.name == "sqlite":
        sides = (
            "SELECT id FROM file_events WHERE rowid IN (SELECT rowid FROM search_events "
            "WHERE search_events MATCH :events LIMIT :more)",
            "SELECT event_id FROM pipelines WHERE id IN (SELECT rowid FROM "
            "search_pipelines WHERE search_pipelines MATCH :pipes LIMIT :more)",
        )
        params = {
            "events": f"path : {_phrase(in_names)} OR reason : {_phrase(in_text)}",
            "pipes": _phrase(in_text),
            "more": cap + 1,
        }
    elif conn.dialect.name == "postgresql" and has_trigram(conn):
        sides = (
            "SELECT id FROM file_events WHERE path ILIKE :names OR reason ILIKE :text LIMIT :more",
            "SELECT event_id FROM pipelines WHERE route ILIKE :text OR error ILIKE :text "
            "LIMIT :more",
        )
        params = {"names": _like(in_names), "text": _like(in_text), "more": cap + 1}
    else:
        return Found(None)
    ids: set[str] = set()
    for side in sides:
        ids.update(str(r[0]) for r in conn.execute(text(side), params))
        if len(ids) > cap:
            return Found(None, many=True)
    return Found(sorted(ids))


def likely_many(conn: Connection, in_names: str, in_text: str, cap: int) -> bool:
    """PostgreSQL: whether the planner's estimate of the events and pipelines holding the
    keyword (its statistics: a common error text is in their most common values) exceeds
    ``cap`` — a guess, to choose which way to look first, never what is returned. An
    EXPLAIN, about 2 ms, where counting the matches in the index cost 65 ms for a keyword in
    1 event of 17 at 1,000,000 events."""
    if conn.dialect.name != "postgresql" or min(len(in_names), len(in_text)) < MIN_CHARS:
        return False
    plan: Any = conn.execute(
        text(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM file_events WHERE path ILIKE :names "
            "OR reason ILIKE :text UNION ALL SELECT 1 FROM pipelines WHERE route ILIKE :text "
            "OR error ILIKE :text"
        ),
        {"names": _like(in_names), "text": _like(in_text)},
    ).scalar()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"]) > cap


def _like(text_: str) -> str:
    escaped = text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def path_candidates(conn: Connection, glob: str, columns: list[str], cap: int) -> list[int] | None:
    """SQLite: rowids of the events whose path or relpath (``columns``) may match the
    case-sensitive ``glob``, at most ``cap``, found by the trigram index with a
    case-insensitive LIKE (a superset: the caller still applies the GLOB); None when more
    match, or when the pattern has no 3 characters in a row for the index."""
    like = glob.replace("*", "%").replace("?", "_")
    if not any(len(part) >= MIN_CHARS for part in re.split("[%_]", like)):
        return None
    query = text(
        " UNION ".join(
            f"SELECT * FROM (SELECT rowid FROM search_events WHERE {c} LIKE :like LIMIT :more)"
            for c in columns
        )
        + " LIMIT :more"
    )
    rows = [int(r[0]) for r in conn.execute(query, {"like": like, "more": cap + 1})]
    return rows if len(rows) <= cap else None
