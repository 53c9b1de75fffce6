"""The disk audit against a real (SQLite) store: what it takes as already recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from filerelay.model import legacy_path_dedup_key
from filerelay.store import Store, make_engine
from filerelay.watcher.audit import unrecorded_files
from tests.conftest import migrated_sqlite
from tests.factories import event_of_file
from tests.store.store_helpers import record
from tests.watcher.helpers import make_source


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(migrated_sqlite(tmp_path / "store.db"))
    yield Store(engine)
    engine.dispose()


def test_a_file_recorded_under_the_key_from_before_the_ctime_is_not_unrecorded(
    tmp_path: Path, store: Store
) -> None:
    # given three files: one recorded under today's key, one under the pre-upgrade key
    # (path+size+mtime+inode), one never recorded
    inbox = tmp_path / "in"
    inbox.mkdir()
    for name in ("now.txt", "before.txt", "lost.txt"):
        (inbox / name).write_text(name)
    record(store, event_of_file(inbox / "now.txt", inbox))
    old = event_of_file(inbox / "before.txt", inbox)
    legacy = legacy_path_dedup_key("src", "before.txt", old.size, old.mtime_ns, old.inode)
    record(store, old.model_copy(update={"dedup_key": legacy}))

    # when the audit walks the source
    found = list(unrecorded_files([make_source(inbox)], store, min_age_s=0.0))

    # then only the file never recorded is sent
    assert [e.relpath for e in found] == ["lost.txt"]
