"""Where copy, move and archive write: a link planted in the destination tree by another user
is refused, never followed (issue 18); names up to 255 bytes work, with short temp names
(issue 12); the quickstart's inbox -> outbox mirror keeps one, newest, copy of each file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from filerelay.actions.base import Action, Resources
from filerelay.actions.fs.archive import ArchiveAction, ArchiveConfig
from filerelay.actions.fs.copy import CopyAction, CopyConfig
from filerelay.actions.fs.move import MoveAction, MoveConfig
from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog
from filerelay.config.loader import load_config
from filerelay.errors import PermanentError, UnsafeFileError
from tests.actions.conftest import Intruder, SharedTree
from tests.actions.helpers import make_context, make_event, write_file

REPO = Path(__file__).resolve().parents[2]
ASCII_255 = "n" * 251 + ".txt"
CJK_85 = "文" * 85  # 255 bytes in UTF-8
ACTIONS = {"copy": (CopyAction, CopyConfig), "move": (MoveAction, MoveConfig)}


def fs_action(kind: str, to: str, **config: Any) -> Action[Any]:
    if kind == "archive":
        return ArchiveAction(ArchiveConfig(to=to, **config), Resources())
    action, model = ACTIONS[kind]
    return action(model(to=to, **config), Resources())


# --- item 3: a link planted in the destination tree ----------------------------------------


@pytest.mark.parametrize("kind", ["copy", "move", "archive"])
def test_a_link_planted_in_the_destination_tree_is_refused(
    shared_tree: SharedTree, intruder: Intruder, kind: str
) -> None:
    victim = shared_tree.private / "victim"
    victim.mkdir()
    path = write_file(shared_tree.base / "src" / "evil" / "p.sh", b"#!/bin/sh\nid\n")
    event = make_event(path, shared_tree.base / "src")
    intruder.run("ln", "-s", str(victim), str(shared_tree.outbox / "evil"))
    with pytest.raises(UnsafeFileError, match=r"outbox/evil: it is a symbolic link"):
        fs_action(kind, f"{shared_tree.outbox}/{{relpath}}").run(make_context(event))
    assert list(victim.iterdir()) == []
    assert path.read_bytes() == b"#!/bin/sh\nid\n"  # nothing lost either


@pytest.mark.parametrize("kind", ["copy", "move"])
def test_a_link_planted_at_the_destination_name_is_refused(
    shared_tree: SharedTree, intruder: Intruder, kind: str
) -> None:
    victim = shared_tree.private / "shadow"
    victim.write_bytes(b"root only\n")
    path = write_file(shared_tree.base / "src" / "p.sh", b"#!/bin/sh\nid\n")
    event = make_event(path, shared_tree.base / "src")
    intruder.run("ln", "-s", str(victim), str(shared_tree.outbox / "p.sh"))
    action = fs_action(kind, f"{shared_tree.outbox}/{{relpath}}", on_conflict="overwrite")
    with pytest.raises(UnsafeFileError, match=r"outbox/p\.sh: it is a symbolic link"):
        action.run(make_context(event))
    assert victim.read_bytes() == b"root only\n" and path.exists()


# --- item 4: long names --------------------------------------------------------------------


@pytest.mark.parametrize("name", [ASCII_255, CJK_85], ids=["ascii-255", "cjk-85"])
@pytest.mark.parametrize("kind", ["copy", "move", "archive"])
def test_names_of_255_bytes_work(src: Path, tmp_path: Path, kind: str, name: str) -> None:
    assert len(name.encode()) == 255
    path = write_file(src / "d" / name, b"long name\n")
    out = tmp_path / "out"
    action = fs_action(kind, f"{out}/{{relpath}}")
    result = action.run(make_context(make_event(path, src)))
    assert result["path"] == str(out / "d" / name)
    assert sorted(p.name for p in (out / "d").iterdir()) == [name]  # no temp file left over
    if kind != "archive":
        assert (out / "d" / name).read_bytes() == b"long name\n"


def test_a_destination_name_too_long_says_so(src: Path, tmp_path: Path) -> None:
    path = write_file(src / ASCII_255, b"x")
    action = fs_action("archive", f"{tmp_path}/out/{{relpath}}.zip")
    with pytest.raises(PermanentError, match=r"file name too long: 259 bytes, the limit is 255"):
        action.run(make_context(make_event(path, src)))
    assert not (tmp_path / "out").exists() and path.exists()


# --- item 5: the quickstart mirror ---------------------------------------------------------


def test_the_quickstart_keeps_one_copy_with_the_newest_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    catalog = ActionCatalog.from_registry(default_registry())
    loaded = load_config(REPO / "examples" / "quickstart.yaml", catalog, check_paths=False)
    step = loaded.model.route("to-outbox").steps[0]
    action = default_registry().get(step.action)(step.action_config, Resources())
    inbox = tmp_path / "inbox"
    for attempt, data in enumerate([b"v1\n", b"version two\n", b"v3, the last\n"], 1):
        path = write_file(inbox / "notes.txt", data)  # vim, sed -i: a new file each save
        os.utime(path, ns=(attempt * 10**18, attempt * 10**18))
        action.run(make_context(make_event(path, inbox, source="inbox"), attempt=attempt))
    outbox = tmp_path / "outbox"
    assert [p.name for p in outbox.iterdir()] == ["notes.txt"]
    assert (outbox / "notes.txt").read_bytes() == b"v3, the last\n"
