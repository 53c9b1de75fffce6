"""The delete action."""

from __future__ import annotations

from pathlib import Path

import pytest

from filerelay.actions.base import Resources
from filerelay.actions.fs.delete import DeleteAction, DeleteConfig
from filerelay.errors import FileVanishedError, PermanentError
from tests.actions.helpers import make_context, make_event, write_file


def delete_action(**config: bool) -> DeleteAction:
    return DeleteAction(DeleteConfig(**config), Resources())


def test_deletes_and_a_rerun_finds_nothing_to_do(src: Path) -> None:
    path = write_file(src / "a.txt", b"x")
    event = make_event(path, src)
    assert delete_action().run(make_context(event)) == {"path": str(path), "deleted": True}
    assert not path.exists()
    assert delete_action().run(make_context(event, attempt=2)) == {
        "path": str(path),
        "deleted": False,
    }


def test_missing_file_fails_when_not_missing_ok(src: Path) -> None:
    path = write_file(src / "a.txt", b"x")
    event = make_event(path, src)
    path.unlink()
    with pytest.raises(FileVanishedError):
        delete_action(missing_ok=False).run(make_context(event))


def test_a_rewritten_file_is_not_deleted(src: Path) -> None:
    path = write_file(src / "a.txt", b"x")
    event = make_event(path, src)
    path.write_bytes(b"a newer, longer version")
    with pytest.raises(PermanentError, match="changed"):
        delete_action().run(make_context(event))
    assert path.exists()


def test_has_nothing_to_compensate(src: Path) -> None:
    path = write_file(src / "a.txt", b"x")
    ctx = make_context(make_event(path, src))
    action = delete_action()
    action.compensate(ctx, action.run(ctx))  # the base no-op: nothing to undo
    assert not path.exists()
