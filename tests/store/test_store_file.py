"""A SQLite store file deleted or replaced under a running process is noticed: every store call
then fails with a StoreError naming the file (tasks defer), and one error line is logged —
never a silent write into the unlinked file, whose history would vanish with it."""

from __future__ import annotations

import shutil

import pytest
from structlog.testing import capture_logs

from filerelay.errors import StoreError
from filerelay.store import Store, make_engine
from tests.conftest import migrated_sqlite
from tests.factories import file_event
from tests.store.store_helpers import record


@pytest.fixture
def sqlite_store(tmp_path):
    engine = make_engine(migrated_sqlite(tmp_path / "filerelay.db"))
    store = Store(engine)
    yield store, tmp_path / "filerelay.db"
    engine.dispose()


def remove_db(path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


@pytest.mark.parametrize("change", ["deleted", "replaced"])
def test_a_store_file_deleted_or_replaced_while_running_stops_every_store_call(
    sqlite_store, tmp_path, change
):
    # given a store with one event recorded
    store, path = sqlite_store
    event = file_event()
    record(store, event)
    # when its file is deleted (or replaced by another file) under the running process
    if change == "replaced":
        shutil.copy(path, tmp_path / "copy.db")
        remove_db(path)
        shutil.move(tmp_path / "copy.db", path)
    else:
        remove_db(path)
    # then every store call fails, naming the file, and one error line says so
    with capture_logs() as logs:
        for _ in range(2):
            with pytest.raises(StoreError, match=f"{path} was {change}"):
                store.get_event(event.event_id)
        with pytest.raises(StoreError):
            record(store, file_event())
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["store_file_changed"]
