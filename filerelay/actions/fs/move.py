"""The ``move`` action: move the file to a templated destination path.

On one filesystem the file is renamed (``os.link`` + unlink when it must not clobber, so the
inode and its mtime are kept); across filesystems it is copied atomically, fsynced, and the
source is unlinked. Idempotent: a retry that finds the source gone and the file at the
destination (same size) succeeds with ``moved: true`` (the earlier attempt moved it, and a
compensation must move it back); one that finds both (a crash between
copy and unlink) finishes by removing the source.
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from filerelay.actions.base import Action, ActionContext
from filerelay.actions.fs import ops as fsops
from filerelay.actions.fs.destinations import (
    ON_CONFLICT_HELP,
    OnConflict,
    place,
    rename_candidates,
    render_destination,
)
from filerelay.config.types import TemplateStr
from filerelay.errors import FileVanishedError, RetryableError
from filerelay.model import JSONDict

PLACEMENT_ATTEMPTS = 5
_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EMLINK)


class MoveConfig(BaseModel):
    """Move the file to another path (rename, or copy + unlink across filesystems)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: TemplateStr = Field(
        description="Destination path template, e.g. '/data/done/{relpath}'; relative paths "
        "are relative to the working directory. The result must stay under the directory "
        "of the template's literal text before its first field.",
        examples=["/data/done/{relpath}", "/data/failed/{source}/{name}"],
    )
    on_conflict: OnConflict = Field(default="fail", description=ON_CONFLICT_HELP)
    preserve_mtime: bool = Field(
        default=True, description="Across filesystems: give the copy the source's mtime and atime."
    )
    fsync: bool = Field(default=True, description="fsync the moved file and both directories.")


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
        if not fsops.exists(src):
            found = self._already_moved(ctx, dest)
            if found is None:
                raise FileVanishedError(f"file vanished: {src}")
            # an earlier attempt of this step moved it: report it moved, so a compensation
            # moves it back
            return _result(found, src, moved=True)
        ctx.check_unchanged()
        for _ in range(PLACEMENT_ATTEMPTS):
            placement = place(dest, self.config.on_conflict, lambda p: self._same(ctx, p))
            if placement.decision == "skip":
                return _result(src, src, moved=False, skipped=True)
            if placement.decision == "same":
                # An earlier attempt got the file there and died before unlinking the source.
                fsops.remove(src)
                self._sync_dirs(src, placement.path)
                return _result(placement.path, src, moved=True)
            try:
                self._move(src, placement.path, overwrite=placement.decision == "overwrite")
            except FileExistsError:
                continue
            return _result(placement.path, src, moved=True)
        raise RetryableError(f"destination kept changing while moving to {dest}")

    def _same(self, ctx: ActionContext, path: str) -> bool:
        try:
            if os.path.samefile(ctx.path, path):
                return True
        except OSError:
            pass
        return fsops.same_content(path, ctx.event.size, ctx.sha256)

    def _already_moved(self, ctx: ActionContext, dest: str) -> str | None:
        """Where an earlier attempt put the file, judged by size (and inode or mtime for
        the 'name (n).ext' names, which may hold other people's files)."""
        ev = ctx.event
        candidates: Iterable[str] = [dest]
        if self.config.on_conflict == "rename":
            candidates = itertools.chain(candidates, rename_candidates(dest))
        for index, path in enumerate(candidates):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                if index > 0:
                    return None  # rename picks the first free name: no later one is ours
                continue
            except OSError as exc:
                raise fsops.os_error(exc, "checking", path) from exc
            same_version = index == 0 or st.st_ino == ev.inode or st.st_mtime_ns == ev.mtime_ns
            if st.st_size == ev.size and same_version:
                return path
        return None

    def _move(self, src: str, dest: str, *, overwrite: bool) -> None:
        """Move ``src`` to ``dest``; FileExistsError (raw) if ``dest`` appeared meanwhile."""
        fsops.makedirs(os.path.dirname(dest))
        try:
            _rename(src, dest, overwrite=overwrite)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise _move_error(exc, src, dest) from exc
            self._copy_across(src, dest, overwrite=overwrite)
        self._sync_dirs(src, dest)

    def _copy_across(self, src: str, dest: str, *, overwrite: bool) -> None:
        fsops.atomic_copy(
            src,
            dest,
            overwrite=overwrite,
            fsync=self.config.fsync,
            preserve_mtime=self.config.preserve_mtime,
        )
        try:
            fsops.remove(src)
        except Exception:
            # Keep "failed = nothing changed": take the copy back rather than leave two files.
            fsops.remove(dest)
            raise

    def _sync_dirs(self, src: str, dest: str) -> None:
        if self.config.fsync:
            fsops.fsync_dir(os.path.dirname(dest))
            fsops.fsync_dir(os.path.dirname(src))

    def compensate(self, ctx: ActionContext, result: JSONDict) -> None:
        """Move the file back to where it came from, unless something else is there now."""
        if not result.get("moved"):
            return
        path, origin = str(result["path"]), str(result["from"])
        if fsops.exists(origin):
            ctx.log.warning("move_compensate_skipped", path=origin, reason="original path taken")
            return
        if not fsops.exists(path):
            ctx.log.warning("move_compensate_skipped", path=path, reason="moved file is gone")
            return
        try:
            self._move(path, origin, overwrite=False)
        except FileExistsError:
            ctx.log.warning("move_compensate_skipped", path=origin, reason="original path taken")


def _rename(src: str, dest: str, *, overwrite: bool) -> None:
    """Same-filesystem move; without ``overwrite`` it never replaces an existing ``dest``."""
    if overwrite:
        os.replace(src, dest)
        return
    try:
        os.link(src, dest)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # No hard links here (vfat, some FUSE, protected_hardlinks): check, then rename.
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "File exists", dest) from exc
        os.rename(src, dest)
        return
    os.unlink(src)


def _move_error(exc: OSError, src: str, dest: str) -> Exception:
    if isinstance(exc, FileNotFoundError) and not os.path.lexists(src):
        return FileVanishedError(f"file vanished: {src}")
    return fsops.os_error(exc, "moving to", dest)


def _result(path: str, origin: str, *, moved: bool, skipped: bool = False) -> JSONDict:
    return {"path": path, "from": origin, "moved": moved, "skipped": skipped}
