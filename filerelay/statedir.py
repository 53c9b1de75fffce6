"""Private files and folders: the state dir is 0700 and the files filerelay makes in it 0600.

The state dir holds the watcher's outbox (file paths, tags), the embedded broker's messages,
the SQLite store (results, errors) and the pause cache: nothing another local user should
read. :func:`private_dir` makes a folder 0700 (and tightens the state dir itself if an older
version left it world-readable); :func:`private_file` creates a file 0600 before SQLite or a
writer opens it (SQLite gives its ``-wal`` and ``-shm`` files the database file's mode).
Files a library creates in a private folder (the embedded broker's messages) keep the
process's umask, but nobody else can reach them through the 0700 folder.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path | str, *, tighten: bool = True) -> Path:
    """Create ``path`` (and missing parents) 0700; with ``tighten``, make an existing one
    0700 too (our own folders; a user's existing parent folder is left alone)."""
    folder = Path(path)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for new in reversed(missing):  # mkdir(parents=True) would make the parents 0755
        with contextlib.suppress(FileExistsError):
            new.mkdir(mode=PRIVATE_DIR_MODE)
    if tighten:
        with contextlib.suppress(OSError):  # not ours to change (another owner): leave it
            os.chmod(folder, PRIVATE_DIR_MODE)
    return folder


def private_file(path: Path | str) -> Path:
    """Create ``path`` empty and 0600 if it does not exist; make an existing one 0600.

    An existing file is never opened here, only chmod'ed by name: it may be a SQLite database
    this process already has open, and closing *any* descriptor of a file drops every POSIX
    lock the process holds on it, SQLite's included (the shared lock of each WAL connection:
    without it another process may checkpoint and delete the WAL under this one's
    connections, which then read stale pages and lose their writes)."""
    file = Path(path)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        with contextlib.suppress(OSError):  # not ours to change (another owner): leave it
            os.chmod(file, PRIVATE_FILE_MODE)
        return file
    try:  # a new file (a new inode): nobody holds a lock on it yet
        with contextlib.suppress(OSError):
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return file


def tighten_tree(path: Path | str) -> None:
    """Make every folder under ``path`` 0700 and every file 0600 (what a library created with
    the umask, such as the embedded broker's exchange files; symlinks are left alone)."""
    for root, dirs, files in os.walk(path):
        for names, mode in ((dirs, PRIVATE_DIR_MODE), (files, PRIVATE_FILE_MODE)):
            for name in names:
                full = os.path.join(root, name)
                if not os.path.islink(full):
                    with contextlib.suppress(OSError):  # a message consumed meanwhile
                        os.chmod(full, mode)


def write_private(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temp file renamed over it), 0600."""
    file = Path(path)
    tmp = file.with_name(file.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, file)
