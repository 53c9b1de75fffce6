"""Which relative paths of a source are candidate files: globs, temp names, hidden, markers.

A :class:`PathFilter` is a plain callable on a '/'-separated relative path, in the style of
watchfiles' filters: the ignore lists are class attributes, so a subclass can extend them.
Everything is compiled once when the filter is built; a call does no I/O.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from filerelay.errors import ConfigError
from filerelay.globs import GlobSet, compile_glob

MARKER_FIELDS = ("name", "stem", "ext")
_FIELD_REGEX = {"name": "[^/]+", "stem": "[^/]+", "ext": "[^/]*"}


def _parse_marker(template: str) -> list[tuple[str, str | None]]:
    """Split a ready-marker template into (literal, field) parts; validate its fields."""
    if "/" in template:
        raise ConfigError(f"ready_marker {template!r}: the marker must be in the same directory")
    try:
        parts = [(lit, field) for lit, field, _spec, _conv in string.Formatter().parse(template)]
    except ValueError as exc:
        raise ConfigError(f"ready_marker {template!r}: {exc}") from None
    for _lit, field in parts:
        if field is not None and field not in MARKER_FIELDS:
            raise ConfigError(
                f"ready_marker {template!r}: unknown field {{{field}}}; allowed: "
                + ", ".join("{" + f + "}" for f in MARKER_FIELDS)
            )
    if all(field is None for _lit, field in parts):
        raise ConfigError(f"ready_marker {template!r}: needs one of {{name}}, {{stem}}, {{ext}}")
    return parts


class ReadyMarker:
    """A ready-marker template such as ``{name}.done``: the file is ready once it exists."""

    def __init__(self, template: str) -> None:
        self.template = template
        self._parts = _parse_marker(template)
        body = "".join(
            re.escape(lit) + (_FIELD_REGEX[field] if field else "") for lit, field in self._parts
        )
        self._regex = re.compile(rf"\A{body}\Z", re.DOTALL)

    def name_for(self, file_name: str) -> str:
        """The marker's file name for a data file's name."""
        pure = PurePosixPath(file_name)
        values = {"name": file_name, "stem": pure.stem, "ext": pure.suffix[1:]}
        return "".join(lit + (values[field] if field else "") for lit, field in self._parts)

    def path_for(self, path: str) -> str:
        """The marker's path (same directory) for a data file's path."""
        head, _, name = path.rpartition("/")
        marker = self.name_for(name)
        return f"{head}/{marker}" if head else marker

    def is_marker_name(self, file_name: str) -> bool:
        """Whether a file name has the shape of a marker (markers are never emitted)."""
        return self._regex.match(file_name) is not None


def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for several globs: a single match per path instead of one per glob."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{compile_glob(p).pattern})" for p in patterns), re.DOTALL)


_GLOB_CHARS = frozenset("*?[")

PARTIAL_SUFFIXES = (".part", ".crdownload", ".partial", ".opdownload")
"""Suffixes of a download in progress: while ``x.part`` exists, ``x`` is not complete (Firefox
keeps an empty ``x`` beside ``x.part`` and renames the latter over it at the end)."""


def download_target(path: str) -> str | None:
    """The final path of a partial-download file (``x.iso.part`` -> ``x.iso``), else None."""
    for suffix in PARTIAL_SUFFIXES:
        if path.endswith(suffix) and not path.endswith("/" + suffix):
            return path[: -len(suffix)]
    return None


class NameMatcher:
    """Globs on a bare file name; ``*suffix`` and ``prefix*`` become str tests (hot path), and
    the other globs' regex runs only on a name starting as one of them must (when each starts
    with a literal character: ``#*#``, ``.*.~*``)."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        suffixes, prefixes, others = [], [], []
        for pat in patterns:
            if pat.startswith("*") and not _GLOB_CHARS & set(pat[1:]):
                suffixes.append(pat[1:])
            elif pat.endswith("*") and not _GLOB_CHARS & set(pat[:-1]):
                prefixes.append(pat[:-1])
            else:
                others.append(pat)
        self._suffixes = tuple(suffixes)
        self._prefixes = tuple(prefixes)
        self._others = _any_of(tuple(others))
        # "" (every name) unless every other glob starts with a literal character
        firsts = {pat.lstrip("/")[:1] for pat in others}
        self._others_first = "" if firsts & (_GLOB_CHARS | {""}) else tuple(firsts)

    def __call__(self, name: str) -> bool:
        return not self.misses(name)

    def misses(self, name: str) -> bool:
        """Whether no glob matches ``name`` (a walk's test of each file name)."""
        return not (
            name.endswith(self._suffixes)
            or name.startswith(self._prefixes)
            or (
                self._others is not None
                and name.startswith(self._others_first)
                and self._others.match(name) is not None
            )
        )


def _name_globs(patterns: tuple[str, ...]) -> NameMatcher | None:
    """A :class:`NameMatcher` equal to the globs on a relative path, if each looks at the file
    name alone: no ``/`` (beyond a leading one), no ``**`` and no ``[class]`` (either can match
    a ``/``), so ``(?:.*/)?body`` can only match the part after the last ``/``."""
    names = tuple(p.lstrip("/") for p in patterns)
    if any("/" in p or "**" in p or "[" in p for p in names):
        return None
    return NameMatcher(names)


def _reject_all(name: str) -> bool:
    return False


def _matches_all(patterns: tuple[str, ...]) -> bool:
    return any(p in ("**", "**/*") for p in patterns)


class PathFilter:
    """Decides whether a relative path of a source may become an event.

    Rejects, in this order: paths in subdirectories of a non-recursive source, temp-file
    names (:attr:`ignore_names`, always), hidden files and files in hidden directories (unless
    ``include_hidden``), ready-marker files, paths not matching ``include`` and paths matching
    ``exclude``.
    """

    ignore_names: tuple[str, ...] = (
        # downloads in progress (browsers, download managers)
        "*.part",  # Firefox, wget2, many others
        "*.partial",  # old Edge/IE; the OneDrive Linux client
        "*.crdownload",  # Chromium, Chrome, Edge
        "*.opdownload",  # Opera
        # editors
        "*.swp",  # vim swap files (.name.swp)
        "*.swo",
        "*.swx",
        "*~",  # emacs, gedit and other editors' backups
        ".#*",  # emacs lock files
        "#*#",  # emacs auto-save files
        "*.kate-swp",  # Kate
        ".goutputstream-*",  # GNOME's atomic saves
        # office suites
        "~$*",  # Microsoft Office owner files (~$report.docx)
        ".~lock.*",  # LibreOffice lock files (.~lock.report.odt#)
        "*.tmp",  # Office's ~WRL0001.tmp, Syncthing's .syncthing.x.tmp, most others
        # sync clients and file systems
        ".*.~*",  # Nextcloud and ownCloud downloads (.name.~1a2b3c4d)
        "*.!sync",  # Resilio Sync
        ".dropbox.attr",
        ".nfs*",  # NFS "silly renames" of files deleted while open
        ".*.filerelay-tmp",  # our own copy/move actions write under this name, then rename
    )
    """File names never emitted (globs on the name). The table in docs/concepts.md lists them."""

    def __init__(self, source: Any) -> None:
        self.recursive: bool = source.recursive
        self.include_hidden: bool = source.include_hidden
        self.include = GlobSet(source.include)
        self.exclude = GlobSet(source.exclude)
        self._ignore = NameMatcher(self.ignore_names)
        self._include = (
            None if _matches_all(self.include.patterns) else _any_of(self.include.patterns)
        )
        self._exclude = _any_of(self.exclude.patterns)
        self.marker: ReadyMarker | None = (
            ReadyMarker(source.ready_marker) if source.ready_marker else None
        )
        self._files_test = self._compile_files_test()

    def __call__(self, relpath: str) -> bool:
        if not relpath or relpath.startswith("/"):
            return False
        if not self.recursive and "/" in relpath:
            return False
        name = relpath.rpartition("/")[2]
        if self._ignore(name):
            return False
        if not self.include_hidden and (relpath.startswith(".") or "/." in relpath):
            return False
        if self.marker is not None and self.marker.is_marker_name(name):
            return False
        if self._include is not None and not self._include.match(relpath):
            return False
        return self._exclude is None or not self._exclude.match(relpath)

    def name_test(self, reldir: str) -> Callable[[str], bool]:
        """A test of the file names of directory ``reldir`` ('' or ending in '/'), equal to
        ``self(reldir + name)`` for every non-empty ``name`` without '/': what depends on the
        directory alone is decided here, once, so a walk pays per file only for the name's
        own tests (the temp names, hidden names, markers, and include/exclude globs that look
        at the name alone, such as ``*.csv``; a glob that looks at directories is matched on
        the whole relative path)."""
        if (
            reldir.startswith("/")
            or (not self.recursive and reldir)
            or (not self.include_hidden and (reldir.startswith(".") or "/." in reldir))
        ):
            return _reject_all
        return self._files_test(reldir)

    def _compile_files_test(self) -> Callable[[str], Callable[[str], bool]]:
        """``reldir -> name test`` (see :meth:`name_test`), with each part compiled once."""
        hidden = () if self.include_hidden else (".*",)
        plain = NameMatcher(self.ignore_names + hidden).misses  # not a temp or hidden name
        marker = self.marker.is_marker_name if self.marker is not None else None
        include_path, exclude_path = self._include, self._exclude
        include = _name_globs(self.include.patterns) if include_path is not None else None
        exclude = _name_globs(self.exclude.patterns) if exclude_path is not None else None
        if include is not None:
            include_path = None
        if exclude is not None:
            exclude_path = None
        if marker is None and include is None and exclude is None:
            name_ok = plain  # no marker, no name globs: one call per name
        else:
            not_included = include.misses if include is not None else None
            not_excluded = exclude.misses if exclude is not None else None

            def name_ok(name: str) -> bool:
                return (
                    plain(name)
                    and (marker is None or not marker(name))
                    and (not_included is None or not not_included(name))
                    and (not_excluded is None or not_excluded(name))
                )

        if include_path is None and exclude_path is None:
            return lambda _reldir: name_ok

        def in_dir(reldir: str) -> Callable[[str], bool]:
            def path_ok(name: str) -> bool:
                return (
                    name_ok(name)
                    and (include_path is None or include_path.match(reldir + name) is not None)
                    and (exclude_path is None or exclude_path.match(reldir + name) is None)
                )

            return path_ok

        return in_dir

    def is_marker(self, relpath: str) -> bool:
        """Whether ``relpath`` is a ready-marker file of this source."""
        return self.marker is not None and self.marker.is_marker_name(relpath.rpartition("/")[2])

    def enter_dir(self, reldir: str) -> bool:
        """Whether a walk should descend into directory ``reldir`` (hidden dirs are skipped)."""
        if not self.recursive:
            return False
        return self.include_hidden or not reldir.rpartition("/")[2].startswith(".")
