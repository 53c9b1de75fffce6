"""Editors' and browsers' artifacts (issue 12): what an editor or a browser leaves beside the
file it writes is not a file to deliver, and a browser's placeholder is not the download.

Real directories and a real watcher; the writers do what emacs and Firefox do, at their pace.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from filerelay.watcher.filters import PathFilter
from tests.watcher.helpers import Published, make_source, running

SILENCE_S = 0.3
PAUSE_S = 1.5  # the writer's stall: five silence windows


def test_an_emacs_auto_save_file_is_not_delivered(tmp_path: Path) -> None:
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    published = Published()
    with running([make_source(inbox, silence=SILENCE_S)], state, published):
        # given emacs auto-saving a buffer, then saving it and removing the auto-save file
        (inbox / "#a.txt#").write_text("draft")
        time.sleep(PAUSE_S)  # the user types on; the auto-save file stays
        (inbox / "a.txt").write_text("final")
        (inbox / "#a.txt#").unlink()
        (inbox / "later.txt").write_text("x")

        # then only the saved file is delivered
        published.wait_for("a.txt", "later.txt")
    assert sorted(published.relpaths()) == ["a.txt", "later.txt"]


def test_a_browser_download_is_delivered_once_whole(tmp_path: Path) -> None:
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    published = Published()
    with running([make_source(inbox, silence=SILENCE_S)], state, published):
        # given Firefox's way: an empty placeholder under the final name, the data in .part
        (inbox / "f.iso").write_bytes(b"")
        with (inbox / "f.iso.part").open("wb") as part:
            part.write(b"a" * 100_000)
            part.flush()
            time.sleep(PAUSE_S)  # the download stalls
            part.write(b"b" * 100_000)
        # when it is done: .part renamed over the placeholder
        (inbox / "f.iso.part").rename(inbox / "f.iso")
        (inbox / "later.txt").write_text("x")

        # then one version of f.iso is delivered, with every byte
        published.wait_for("f.iso", "later.txt")
    assert [e.size for e in published.of("f.iso")] == [200_000]


def test_a_download_under_way_at_start_up_is_held_by_the_walk(tmp_path: Path) -> None:
    # given a placeholder and its .part, both older than the silence window, before start
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    (inbox / "f.iso").write_bytes(b"")
    (inbox / "f.iso.part").write_bytes(b"half")
    (inbox / "old.txt").write_text("x")
    published = Published()
    with running([make_source(inbox, silence=SILENCE_S)], state, published):
        published.wait_for("old.txt")  # the start-up walk is done
        (inbox / "f.iso.part").write_bytes(b"half and the rest")
        (inbox / "f.iso.part").rename(inbox / "f.iso")
        published.wait_for("f.iso")
    assert [e.size for e in published.of("f.iso")] == [len(b"half and the rest")]


@pytest.mark.parametrize(
    "name",
    [
        "#a.txt#",  # emacs auto-save
        ".#a.txt",  # emacs lock
        "a.txt~",  # backups
        ".a.txt.swp",  # vim
        "a.txt.kate-swp",
        "~$report.docx",  # Microsoft Office owner file
        ".~lock.report.odt#",  # LibreOffice lock
        "~WRL0001.tmp",  # Office temp
        "f.iso.part",  # Firefox
        "f.iso.crdownload",  # Chromium
        "f.iso.opdownload",  # Opera
        "f.iso.partial",
        ".syncthing.a.txt.tmp",  # Syncthing
        "~syncthing~a.txt.tmp",
        ".a.txt.~1a2b3c4d",  # Nextcloud / ownCloud
        "a.txt.!sync",  # Resilio
        ".dropbox.attr",
        ".nfs000000000012345600000001",  # NFS silly rename
        ".goutputstream-ABC123",  # GNOME
    ],
)
def test_temp_names_are_never_emitted_even_with_hidden_files(tmp_path: Path, name: str) -> None:
    path_filter = PathFilter(make_source(tmp_path, include_hidden=True))
    assert not path_filter(name)
    assert not path_filter(f"sub/{name}")
    assert path_filter("report.docx") and path_filter("a.txt")
