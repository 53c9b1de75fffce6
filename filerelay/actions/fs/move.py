"""The ``move`` action: move the file to a templated destination path.

On one filesystem the file is renamed (``linkat`` + unlink when it must not clobber, so the
inode and its mtime are kept); across filesystems it is copied atomically, fsynced, and the
source is unlinked. Either way the file at the destination gets the mode policy's permission
bits (:mod:`filerelay.actions.fs.config`) and never setuid, setgid or sticky bits. The source
is opened and checked first (:meth:`~filerelay.actions.base.ActionContext.open_source`), and
the name given at the destination must then be that very file, or the move is undone.

Idempotent: a retry that finds the source gone and the file at the destination (same size)
succeeds with ``moved: true`` (the earlier attempt moved it, and a compensation must move it
back); one that finds both (a crash between copy and unlink) finishes by removing the source.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from collections.abc import Iterable

from filerelay import safefs
from filerelay.actions.base import Action, ActionContext
from filerelay.actions.fs import ops as fsops
from filerelay.actions.fs.config import SPECIAL_BITS, FileTargetConfig
from filerelay.actions.fs.destinations import (
    Destination,
    rename_candidates,
    render_destination,
    settle,
)
from filerelay.actions.fs.ops import Entry
from filerelay.errors import ActionError, FileVanishedError, UnsafeFileError
from filerelay.model import JSONDict
from filerelay.safefs import Identity, SourceFile


class MoveConfig(FileTargetConfig):
    """Move the file to another path (rename, or copy + unlink across filesystems)."""


class MoveAction(Action[MoveConfig]):
    """Moves the file; ``compensate`` moves it back if its original path is free.

    Result: ``{path, from, moved, skipped}``; ``path`` is where the file now is (the source
    path itself when ``on_conflict: skip`` left it in place).
    """

    name = "move"
    Config = MoveConfig

    def run(self, ctx: ActionContext) -> JSONDict:
        src = ctx.path
        dest = render_destination(ctx, self.config.to)
        try:
            source = ctx.open_source()
        except FileVanishedError:
            found = self._already_moved(ctx, dest)
            if found is None:
                raise
            # an earlier attempt of this step moved it: report it moved, so a compensation
            # moves it back
            return _result(found, src, moved=True)
        with source, dest.parent() as entry:
            mode = self.config.target_mode(source.stat.st_mode)
            placement = settle(
                entry,
                self.config.on_conflict,
                lambda e: _same(ctx, source, e),
                lambda p: self._move(source, p.entry, mode, p.decision == "overwrite"),
            )
            if placement.decision == "skip":
                return _result(src, src, moved=False, skipped=True)
            if placement.decision == "same":
                # An earlier attempt got the file there and died before unlinking the source.
                fsops.remove(fsops.entry_of(source))
                self._sync_dirs(source, placement.entry)
            return _result(placement.path, src, moved=True)

    def _already_moved(self, ctx: ActionContext, dest: Destination) -> str | None:
        """Where an earlier attempt put the file, judged by size (and inode or mtime for
        the 'name (n).ext' names, which may hold other people's files)."""
        ev = ctx.event
        try:
            with dest.parent(create=False) as entry:
                candidates: Iterable[Entry] = [entry]
                if self.config.on_conflict == "rename":
                    candidates = itertools.chain(candidates, rename_candidates(entry))
                for index, candidate in enumerate(candidates):
                    st = fsops.lstat(candidate)
                    if st is None:
                        if index > 0:
                            return None  # rename picks the first free name: no later is ours
                        continue
                    same = index == 0 or st.st_ino == ev.inode or st.st_mtime_ns == ev.mtime_ns
                    if stat.S_ISREG(st.st_mode) and st.st_size == ev.size and same:
                        return candidate.path
        except FileNotFoundError:
            pass
        return None

    def _move(self, source: SourceFile, dest: Entry, mode: int | None, overwrite: bool) -> None:
        """Move the opened ``source`` to ``dest``; FileExistsError (raw) if ``dest`` appeared
        meanwhile. ``mode``: the permission bits to give it (None: keep them)."""
        if mode is not None:
            _check_can_chmod(source, mode)
        origin = fsops.entry_of(source)
        try:
            linked = fsops.place_file(origin, dest, overwrite=overwrite)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise _move_error(exc, source, dest) from exc
            self._copy_across(source, dest, mode, overwrite=overwrite)
        else:
            _check_moved(source, dest, linked)
            if linked:
                fsops.remove(origin)
            if mode is not None and stat.S_IMODE(source.stat.st_mode) != mode:
                _chmod(source, mode, dest.path)
        self._sync_dirs(source, dest)

    def _copy_across(
        self, source: SourceFile, dest: Entry, mode: int | None, *, overwrite: bool
    ) -> None:
        fsops.atomic_copy(
            source,
            dest,
            overwrite=overwrite,
            mode=stat.S_IMODE(source.stat.st_mode) if mode is None else mode,
            fsync=self.config.fsync,
            preserve_mtime=self.config.preserve_mtime,
        )
        try:
            if not source.is_named():
                raise UnsafeFileError(f"refusing {source.path}: it was replaced while moving it")
            fsops.remove(fsops.entry_of(source))
        except Exception:
            # Keep "failed = nothing changed": take the copy back rather than leave two files.
            fsops.remove(dest)
            raise

    def _sync_dirs(self, source: SourceFile, dest: Entry) -> None:
        if self.config.fsync:
            fsops.fsync_dir(dest.dir_fd, os.path.dirname(dest.path))
            fsops.fsync_dir(source.dir_fd, os.path.dirname(source.path))

    def compensate(self, ctx: ActionContext, result: JSONDict) -> None:
        """Move the file back to where it came from, unless something else is there now."""
        if not result.get("moved"):
            return
        path = str(result["path"])
        root, parts = ctx.source_root()
        moved = Destination.of(self.config.to, path)
        loose = Identity(ctx.event.size, ctx.event.mtime_ns, strict=False)
        try:
            with (
                safefs.open_file(moved.root, moved.parts, loose) as found,
                Destination(root, tuple(parts)).parent() as origin,
            ):
                if fsops.lstat(origin) is not None:
                    ctx.log.warning("move_compensate_skipped", path=origin.path, reason="taken")
                    return
                self._move(found, origin, None, overwrite=False)
        except FileExistsError:
            ctx.log.warning("move_compensate_skipped", path=ctx.path, reason="taken")
        except FileVanishedError:
            ctx.log.warning("move_compensate_skipped", path=path, reason="moved file is gone")


def _same(ctx: ActionContext, source: SourceFile, entry: Entry) -> bool:
    st = fsops.lstat(entry)
    if st is not None and (st.st_dev, st.st_ino) == (source.stat.st_dev, source.stat.st_ino):
        return True
    return fsops.same_content(entry, ctx.event.size, ctx.sha256)


def _check_can_chmod(source: SourceFile, mode: int) -> None:
    """Refuse, before moving, a file whose setuid/setgid/sticky bits we could not clear."""
    st = source.stat
    if os.geteuid() in (0, st.st_uid) or not st.st_mode & SPECIAL_BITS:
        return
    raise UnsafeFileError(
        f"refusing {source.path}: it has setuid, setgid or sticky bits and belongs to another "
        f"user, so they could not be cleared at the destination (mode {mode:04o})"
    )


def _chmod(source: SourceFile, mode: int, where: str) -> None:
    try:
        os.fchmod(source.fd, mode)
    except OSError as exc:
        if exc.errno == errno.EPERM and not source.stat.st_mode & SPECIAL_BITS:
            return  # not ours to change (the worker is neither root nor the owner): keep them
        raise safefs.os_error(exc, "setting the mode of", where) from exc


def _check_moved(source: SourceFile, dest: Entry, linked: bool) -> None:
    """The name given at ``dest`` must be the file we opened: a source swapped for a link or
    another file between opening and renaming is taken back and refused."""
    st = fsops.lstat(dest)
    if st is not None and (st.st_dev, st.st_ino) == (source.stat.st_dev, source.stat.st_ino):
        return
    if linked:
        fsops.remove(dest)
    elif st is not None:
        fsops.place_file(dest, fsops.entry_of(source), overwrite=False)
    raise UnsafeFileError(f"refusing {source.path}: it was replaced while moving it")


def _move_error(exc: OSError, source: SourceFile, dest: Entry) -> ActionError:
    if isinstance(exc, FileNotFoundError) and not source.is_named():
        return FileVanishedError(f"file vanished: {source.path}")
    return safefs.os_error(exc, "moving to", dest.path)


def _result(path: str, origin: str, *, moved: bool, skipped: bool = False) -> JSONDict:
    return {"path": path, "from": origin, "moved": moved, "skipped": skipped}
