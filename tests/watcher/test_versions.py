"""File versions: a rewrite is a new version even when size and mtime stay the same (issue 12).

Real directories, a real watcher and the real tools (``cp -p``, ``mv``) a user would run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from filerelay.model import FileEvent
from filerelay.watcher.version import stat_version
from tests.conftest import wait_for
from tests.watcher.helpers import Published, make_source, running


def version_of(event: FileEvent) -> tuple[int, int, int, int]:
    return (event.size, event.mtime_ns, event.inode, event.ctime_ns)


def current(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def same_size_and_mtime(path: Path, like: Path, content: bytes) -> None:
    """Write ``content`` (as long as ``like``'s) to ``path`` and give it ``like``'s mtime."""
    assert len(content) == like.stat().st_size
    path.write_bytes(content)
    st = like.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def delivered_once(published: Published, inbox: Path, name: str) -> FileEvent:
    published.wait_for(name)
    (event,) = published.of(name)
    assert version_of(event) == current(inbox / name)
    return event


def test_cp_p_of_the_same_size_and_mtime_over_a_delivered_file_is_a_new_version(
    tmp_path: Path,
) -> None:
    # given a delivered fw.img, and a v2 of the same size and mtime outside the tree
    inbox, state, elsewhere = tmp_path / "inbox", tmp_path / "state", tmp_path / "new"
    inbox.mkdir()
    elsewhere.mkdir()
    published = Published()
    with running([make_source(inbox)], state, published):
        (inbox / "fw.img").write_bytes(b"firmware v1")
        first = delivered_once(published, inbox, "fw.img")
        same_size_and_mtime(elsewhere / "v2.img", inbox / "fw.img", b"firmware v2")

        # when the user copies it over the delivered file, keeping its times
        subprocess.run(["cp", "-p", str(elsewhere / "v2.img"), str(inbox / "fw.img")], check=True)
        assert (inbox / "fw.img").stat().st_mtime_ns == first.mtime_ns

        # then a second version is emitted, under another key, for the new bytes
        wait_for(lambda: len(published.of("fw.img")) == 2, 30, what="a second version")
        second = published.of("fw.img")[1]
        assert second.dedup_key != first.dedup_key
        assert version_of(second) == current(inbox / "fw.img")
        assert (inbox / "fw.img").read_bytes() == b"firmware v2"


def test_rename_over_a_delivered_file_is_a_new_version(tmp_path: Path) -> None:
    # given a delivered fw.img, and a v2 of the same size and mtime beside the tree
    inbox, state, elsewhere = tmp_path / "inbox", tmp_path / "state", tmp_path / "new"
    inbox.mkdir()
    elsewhere.mkdir()
    published = Published()
    with running([make_source(inbox)], state, published):
        (inbox / "fw.img").write_bytes(b"firmware v1")
        first = delivered_once(published, inbox, "fw.img")
        same_size_and_mtime(elsewhere / "new", inbox / "fw.img", b"firmware v2")

        # when it is renamed over the delivered file
        subprocess.run(["mv", str(elsewhere / "new"), str(inbox / "fw.img")], check=True)

        # then a second version is emitted for the new file
        wait_for(lambda: len(published.of("fw.img")) == 2, 30, what="a second version")
        second = published.of("fw.img")[1]
        assert second.dedup_key != first.dedup_key
        assert version_of(second) == current(inbox / "fw.img")


def test_a_cp_p_while_the_watcher_was_down_is_found_by_the_start_up_walk(
    tmp_path: Path,
) -> None:
    # given a delivered fw.img and a stopped watcher
    inbox, state, elsewhere = tmp_path / "inbox", tmp_path / "state", tmp_path / "new"
    inbox.mkdir()
    elsewhere.mkdir()
    published = Published()
    with running([make_source(inbox)], state, published):
        (inbox / "fw.img").write_bytes(b"firmware v1")
        delivered_once(published, inbox, "fw.img")
    same_size_and_mtime(elsewhere / "v2.img", inbox / "fw.img", b"firmware v2")
    subprocess.run(["cp", "-p", str(elsewhere / "v2.img"), str(inbox / "fw.img")], check=True)

    # when it starts again
    again = Published()
    with running([make_source(inbox)], state, again):
        # then the walk emits the new version
        again.wait_for("fw.img")
        assert [version_of(e) for e in again.of("fw.img")] == [current(inbox / "fw.img")]


def test_an_untouched_file_is_not_emitted_again_after_a_restart(tmp_path: Path) -> None:
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    published = Published()
    with running([make_source(inbox)], state, published):
        (inbox / "fw.img").write_bytes(b"firmware v1")
        delivered_once(published, inbox, "fw.img")
        (inbox / "marker").write_bytes(b"")
        published.wait_for("marker")

    again = Published()
    with running([make_source(inbox)], state, again) as watcher:
        (inbox / "after-restart").write_bytes(b"x")
        again.wait_for("after-restart")  # the walk is over and the watcher emits
        assert watcher.outbox is not None
        assert watcher.outbox.is_seen("src", "fw.img", stat_version((inbox / "fw.img").stat()))
    assert again.relpaths() == ["after-restart"]
