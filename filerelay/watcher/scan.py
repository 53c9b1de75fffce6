"""The reconcile walk: every candidate file of a source tree, with its stat, via ``os.scandir``.

Iterative (an explicit stack, no recursion limit), never follows symlinks (neither to files
nor to directories; a directory reached twice through bind mounts is walked once), skips
unreadable directories with a warning and keeps going. Names are ``str`` as ``os.scandir``
returns them for a ``str`` path: undecodable bytes are kept as surrogate escapes
(``os.fsdecode``), so every name, including ones with newlines or invalid UTF-8, round-trips
to the same file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import structlog

from filerelay.watcher.filters import PARTIAL_SUFFIXES, PathFilter

log = structlog.get_logger()

DirFiles = tuple[str, list[str], list[os.stat_result]]
"""``(reldir, names, lstats)``: the files a walk takes in one directory."""


class TreeWalk:
    """One walk of a source below ``root`` (or only below ``start``, a directory inside it).

    Iterating yields ``(relpath, lstat)`` for each regular file the filter accepts
    (:meth:`batches` the same a directory at a time, without a string per file); afterwards
    ``dirs``, ``files`` and ``skipped_dirs`` tell what was seen, ``complete`` whether every
    directory could be read, and ``partials`` the relpaths of partial downloads found
    (``x.part``: ``x`` is not complete yet).
    """

    def __init__(
        self, root: str, path_filter: PathFilter, *, start: str | None = None, source: str = ""
    ) -> None:
        self.root = os.fsdecode(root).rstrip("/") or "/"
        self.start = os.fsdecode(start).rstrip("/") if start else self.root
        self.path_filter = path_filter
        self.source = source
        self.dirs = 0
        self.files = 0
        self.skipped_dirs = 0
        self.partials: list[str] = []

    @property
    def complete(self) -> bool:
        return self.skipped_dirs == 0

    def _start_prefix(self) -> str | None:
        """The relpath prefix of the start directory ('' for the root); None if filtered out."""
        if self.start == self.root:
            return ""
        base = self.root if self.root != "/" else ""
        if not self.start.startswith(base + "/"):
            return None
        reldir = self.start[len(base) + 1 :]
        parts = reldir.split("/")
        for i in range(1, len(parts) + 1):
            if not self.path_filter.enter_dir("/".join(parts[:i])):
                return None
        return reldir + "/"

    def _list(self, dir_path: str, reldir: str) -> list[os.DirEntry[str]] | None:
        try:
            with os.scandir(dir_path) as it:
                return list(it)
        except (FileNotFoundError, NotADirectoryError):
            return None  # vanished while we walked: nothing to report
        except OSError as exc:
            self.skipped_dirs += 1
            log.warning(
                "scan.dir_unreadable",
                source=self.source,
                relpath=reldir.rstrip("/") or ".",
                error=str(exc),
            )
            return None

    def __iter__(self) -> Iterator[tuple[str, os.stat_result]]:
        for reldir, names, stats in self.batches():
            for name, st in zip(names, stats, strict=True):
                yield reldir + name, st

    def batches(self) -> Iterator[DirFiles]:
        """The walk one directory at a time: ``(reldir, names, lstats)`` of the files of each
        directory read that the filter accepts (none: nothing), ``reldir`` '' for the root or
        ending in '/'. The same files, in the same order, as iterating."""
        prefix = self._start_prefix()
        if prefix is None:
            return
        visited: set[tuple[int, int]] = set()
        try:
            st = os.stat(self.start)
            visited.add((st.st_dev, st.st_ino))
        except OSError:
            pass  # _list reports it
        stack = [(self.start, prefix)]
        while stack:
            dir_path, reldir = stack.pop()
            entries = self._list(dir_path, reldir)
            if entries is None:
                continue
            self.dirs += 1
            names, stats = self._files_of(entries, reldir, stack, visited)
            if names:
                self.files += len(names)
                yield reldir, names, stats

    def _files_of(
        self,
        entries: list[os.DirEntry[str]],
        reldir: str,
        stack: list[tuple[str, str]],
        visited: set[tuple[int, int]],
    ) -> tuple[list[str], list[os.stat_result]]:
        """The names and lstats of the files of one directory the filter accepts; its
        subdirectories to walk go on ``stack``, its partial downloads to :attr:`partials`."""
        accept = self.path_filter.name_test(reldir)  # what depends on the directory: once
        names: list[str] = []
        stats: list[os.stat_result] = []
        for entry in entries:  # the hot loop: one pass per file
            name = entry.name
            try:
                if entry.is_file(follow_symlinks=False):
                    if accept(name):
                        stats.append(entry.stat(follow_symlinks=False))
                        names.append(name)
                        continue
                elif entry.is_dir(follow_symlinks=False):
                    if self.path_filter.enter_dir(reldir + name):
                        st = entry.stat(follow_symlinks=False)
                        if (st.st_dev, st.st_ino) not in visited:
                            visited.add((st.st_dev, st.st_ino))
                            stack.append((entry.path, reldir + name + "/"))
                    continue
            except OSError:
                continue  # vanished between listing and stat
            if name.endswith(PARTIAL_SUFFIXES):
                self.partials.append(reldir + name)
        return names, stats
