"""Migrations: the migrated schema is the models' schema; ensure_schema's decisions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from filerelay.errors import StoreError
from filerelay.store import ensure_schema, make_engine
from filerelay.store.migrate import (
    current_revision,
    head_revision,
    packaged_head,
    recorded_revision,
    upgrade,
    upgrade_apart,
)
from filerelay.store.schema import metadata


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated here, by the migrations (not a template's copy)."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def test_migrated_schema_equals_the_models(engine: Engine) -> None:
    # given a database migrated to head (the engine fixture) / when compared with the models
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": _not_search_index,
            },
        )
        diffs = compare_metadata(context, metadata)
    # then there is nothing to migrate
    assert diffs == []
    assert current_revision(engine) == head_revision() == "0015"


def _not_search_index(name: str | None, kind: str, _parents: object) -> bool:
    """The keyword-search indexes (FTS5 tables, pg_trgm indexes) are made by hand, per
    dialect (filerelay.store.search), and are not in the models."""
    return not (name or "").startswith(("search_", "ix_search_"))


def test_dedup_index_is_unique_and_partial(engine: Engine) -> None:
    # alembic does not compare index predicates, so check the index itself
    index = {i["name"]: i for i in inspect(engine).get_indexes("file_events")}[
        "uq_file_events_dedup_key_primary"
    ]
    assert index["unique"]
    where = index.get("dialect_options", {}).get(f"{engine.dialect.name}_where")
    assert where is not None and "duplicate" in str(where)


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_ensure_schema_refuses_a_behind_schema_without_auto_upgrade(db_url: str) -> None:
    # given an empty database
    engine = make_engine(db_url)
    try:
        # when the schema is ensured without auto upgrade / then it says what to run
        with pytest.raises(StoreError, match=r"code needs 0015: run `filerelay db upgrade`"):
            ensure_schema(engine, auto_upgrade=False)
        assert current_revision(engine) is None
        # and with auto upgrade it creates the schema
        ensure_schema(engine, auto_upgrade=True)
        assert current_revision(engine) == head_revision()
        ensure_schema(engine, auto_upgrade=False)
    finally:
        engine.dispose()


def test_ensure_schema_refuses_an_unknown_newer_revision(engine: Engine) -> None:
    # given a store migrated by a newer filerelay
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    # then neither mode touches it
    for auto in (True, False):
        with pytest.raises(StoreError, match="at 9999, which this filerelay does not know"):
            ensure_schema(engine, auto_upgrade=auto)


def test_unreachable_store_is_a_store_error() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="cannot read the store schema revision"):
        ensure_schema(engine, auto_upgrade=True)
    engine.dispose()


def test_the_head_read_without_alembic_is_alembics() -> None:
    assert packaged_head() == head_revision()


def test_ensure_schema_reads_the_revision_itself_on_a_store_at_head(engine: Engine) -> None:
    assert recorded_revision(engine) == head_revision()
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0014'"))
    assert recorded_revision(engine) == "0014"  # then alembic decides: it upgrades
    ensure_schema(engine, auto_upgrade=True)
    assert current_revision(engine) == head_revision()


def test_upgrade_apart_migrates_an_empty_store_in_a_child(db_url: str) -> None:
    # given an empty store / when upgraded apart / then it is at head
    upgrade_apart(db_url)
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        ensure_schema(engine, auto_upgrade=False)
    finally:
        engine.dispose()


def test_upgrade_apart_leaves_refusals_to_ensure_schema(engine: Engine, db_url: str) -> None:
    # given a store migrated by a newer filerelay
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    # when upgraded apart / then it is untouched, and ensure_schema says why
    upgrade_apart(db_url)
    assert current_revision(engine) == "9999"
    with pytest.raises(StoreError, match="at 9999, which this filerelay does not know"):
        ensure_schema(engine, auto_upgrade=True)


def test_upgrade_apart_leaves_an_unreachable_store_to_ensure_schema() -> None:
    upgrade_apart("postgresql+psycopg://postgres@127.0.0.1:1/none")  # returns, raises nothing
