"""A hostile uploader against a root worker: setuid bits copied, and the file (or a parent
directory) swapped for a link or a FIFO after the watcher declared it stable (issue 18).

Each attack is done by a real second user (``intruder``) in a tree it owns; the worker is
this (root) process running the real action. Every attack must end in a permanent error that
names the cause, with the secret in no outbox and no bucket, and the uploader's file kept.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from filerelay.actions.base import Action, Resources
from filerelay.actions.fs.archive import ArchiveAction, ArchiveConfig
from filerelay.actions.fs.config import umask
from filerelay.actions.fs.copy import CopyAction, CopyConfig
from filerelay.actions.fs.move import MoveAction, MoveConfig
from filerelay.actions.s3.action import S3Action, S3Config
from filerelay.errors import PermanentError
from filerelay.model import FileEvent
from tests.actions.conftest import Intruder, SharedTree
from tests.actions.helpers import S3_CONNECTION, make_context, make_event, s3_resources

SECRET = b"root:$6$only-root-may-read-this\n"
MTIME_NS = 1_650_000_000_000_000_000
SPECIAL = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


def planted(tree: SharedTree, intruder: Intruder, rel: str, data: bytes) -> Path:
    """The intruder writes ``inbox/rel``; it is given the secret's mtime."""
    path = tree.inbox / rel
    intruder.write(path, data)
    os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return path


def secret_file(tree: SharedTree, rel: str = "secret") -> Path:
    path = tree.private / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SECRET)
    path.chmod(0o600)
    os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return path


def found_secret(*roots: Path) -> list[Path]:
    """Every file under ``roots`` holding the secret's bytes."""
    hits = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink() and SECRET in path.read_bytes():
                hits.append(path)
    return hits


# --- item 1: privilege copied --------------------------------------------------------------


def setuid_file(tree: SharedTree, intruder: Intruder) -> FileEvent:
    path = planted(tree, intruder, "p.sh", b"#!/bin/sh\nid\n")
    intruder.run("chmod", "6755", str(path))
    assert path.stat().st_mode & 0o7777 == 0o6755
    return make_event(path, tree.inbox)


@pytest.mark.parametrize(
    ("config", "expected"),
    [({}, None), ({"preserve_mode": True}, 0o755), ({"mode": "0640"}, 0o640)],
    ids=["umask", "preserve_mode", "mode"],
)
def test_copy_never_carries_setuid_bits(
    shared_tree: SharedTree, intruder: Intruder, config: dict[str, Any], expected: int | None
) -> None:
    event = setuid_file(shared_tree, intruder)
    out = shared_tree.base / "out"
    CopyAction(CopyConfig(to=f"{out}/{{relpath}}", **config), Resources()).run(make_context(event))
    st = (out / "p.sh").stat()
    assert st.st_mode & SPECIAL == 0
    assert st.st_mode & 0o777 == (0o666 & ~umask() if expected is None else expected)
    assert st.st_uid == 0  # the worker's file: ownership neither copied nor given away


def test_move_across_filesystems_never_carries_setuid_bits(
    shared_tree: SharedTree, intruder: Intruder, other_fs: Path
) -> None:
    event = setuid_file(shared_tree, intruder)
    MoveAction(MoveConfig(to=f"{other_fs}/{{relpath}}", preserve_mode=True), Resources()).run(
        make_context(event)
    )
    assert (other_fs / "p.sh").stat().st_mode & 0o7777 == 0o755


def test_move_within_a_filesystem_clears_setuid_bits(
    shared_tree: SharedTree, intruder: Intruder
) -> None:
    event = setuid_file(shared_tree, intruder)
    out = shared_tree.base / "done"
    MoveAction(MoveConfig(to=f"{out}/{{relpath}}"), Resources()).run(make_context(event))
    assert (out / "p.sh").stat().st_mode & 0o7777 == 0o666 & ~umask()


def test_archive_and_its_restore_never_carry_setuid_bits(
    shared_tree: SharedTree, intruder: Intruder
) -> None:
    event = setuid_file(shared_tree, intruder)
    out = shared_tree.base / "arch"
    action = ArchiveAction(
        ArchiveConfig(to=f"{out}/{{relpath}}.tar.gz", format="tar.gz", remove_source=True),
        Resources(),
    )
    result = action.run(make_context(event))
    assert not Path(event.path).exists()
    action.compensate(make_context(event, attempt=2), result)
    restored = Path(event.path).stat()
    assert restored.st_mode & 0o7777 == 0o755  # the member's bits, without the special ones


def test_a_mode_with_special_bits_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="setuid, setgid and sticky bits are never set"):
        CopyConfig(to="/out/{relpath}", mode="4755")
    with pytest.raises(ValueError, match="not both"):
        CopyConfig(to="/out/{relpath}", mode="0644", preserve_mode=True)


# --- item 2: the file swapped after it was declared stable ---------------------------------


SWAPPING_ACTIONS = ["copy", "move", "archive", "s3"]


@pytest.fixture
def worker_action(request: pytest.FixtureRequest, shared_tree: SharedTree) -> Action[Any]:
    """The action under attack, writing to a root-owned ``out`` (or a fresh bucket)."""
    kind, out = request.param, shared_tree.base / "out"
    if kind == "copy":
        return CopyAction(CopyConfig(to=f"{out}/{{relpath}}"), Resources())
    if kind == "move":
        return MoveAction(MoveConfig(to=f"{out}/{{relpath}}"), Resources())
    if kind == "archive":
        return ArchiveAction(ArchiveConfig(to=f"{out}/{{relpath}}.zip"), Resources())
    resources = s3_resources(request.getfixturevalue("moto_endpoint"))
    bucket = request.getfixturevalue("bucket")
    return S3Action(S3Config(connection=S3_CONNECTION, bucket=bucket), resources)


def _run(action: Action[Any], event: FileEvent) -> None:
    action.run(make_context(event, action.resources))


def _nothing_shipped(tree: SharedTree, request: pytest.FixtureRequest, action: Action[Any]) -> None:
    assert found_secret(tree.base) == [tree.private / p for p in _secrets(tree)]
    if isinstance(action, S3Action):
        client, bucket = request.getfixturevalue("s3_client"), action.config.bucket
        assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def _secrets(tree: SharedTree) -> list[str]:
    return sorted(str(p.relative_to(tree.private)) for p in tree.private.rglob("*") if p.is_file())


@pytest.mark.parametrize("worker_action", SWAPPING_ACTIONS, indirect=True)
def test_a_link_swapped_in_for_the_file_is_refused(
    shared_tree: SharedTree,
    intruder: Intruder,
    worker_action: Action[Any],
    request: pytest.FixtureRequest,
) -> None:
    action = worker_action
    secret = secret_file(shared_tree)
    path = planted(shared_tree, intruder, "a.txt", b"x" * len(SECRET))
    event = make_event(path, shared_tree.inbox)
    intruder.sh(f'ln -s "{secret}" "{path}.new"; mv -T "{path}.new" "{path}"')
    with pytest.raises(PermanentError, match=r"a\.txt: it is a symbolic link"):
        _run(action, event)
    _nothing_shipped(shared_tree, request, action)
    assert path.is_symlink() and secret.read_bytes() == SECRET


@pytest.mark.parametrize("worker_action", SWAPPING_ACTIONS, indirect=True)
def test_a_link_swapped_in_for_a_parent_directory_is_refused(
    shared_tree: SharedTree,
    intruder: Intruder,
    worker_action: Action[Any],
    request: pytest.FixtureRequest,
) -> None:
    action = worker_action
    secret_file(shared_tree, "d/a.txt")
    path = planted(shared_tree, intruder, "d/a.txt", b"x" * len(SECRET))
    event = make_event(path, shared_tree.inbox)
    d = shared_tree.inbox / "d"
    intruder.sh(f'mv "{d}" "{d}.old"; ln -s "{shared_tree.private}/d" "{d}"')
    with pytest.raises(PermanentError, match=r"inbox/d: it is a symbolic link, not a directory"):
        _run(action, event)
    _nothing_shipped(shared_tree, request, action)
    assert (shared_tree.private / "d" / "a.txt").read_bytes() == SECRET


@pytest.mark.parametrize("worker_action", SWAPPING_ACTIONS, indirect=True)
def test_a_fifo_swapped_in_is_refused_without_blocking(
    shared_tree: SharedTree,
    intruder: Intruder,
    worker_action: Action[Any],
    request: pytest.FixtureRequest,
) -> None:
    action = worker_action
    path = planted(shared_tree, intruder, "empty.txt", b"")  # a FIFO's size is 0 too
    event = make_event(path, shared_tree.inbox)
    intruder.sh(f'rm "{path}"; mkfifo "{path}"')
    os.utime(path, ns=(MTIME_NS, MTIME_NS))  # same size, same mtime as detected
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            _run(action, event)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # blocked in open(): release it, then fail
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(timeout=10)
        pytest.fail("the worker blocked opening a FIFO")
    assert isinstance(outcome[0], PermanentError), outcome
    assert "it is a FIFO, not a regular file" in str(outcome[0])
    _nothing_shipped(shared_tree, request, action)
