"""The ``archive`` action: compress the file, alone, into a zip or tar.gz at a templated path.

The archive holds one member: the file under its own name (see
:mod:`filerelay.actions.fs.archive_formats`). It is written to a temp file next to the
destination, fsynced and published with the shared code of copy and move
(:mod:`filerelay.actions.fs.destinations`, :mod:`filerelay.actions.fs.ops`): same ``to``
rendering, root check and link refusal, same ``on_conflict`` policy, same mode policy, never a
partial archive at the destination — a full disk fails the step for good and leaves nothing.

Idempotent: an archive already at the destination holding the same single member (name, size,
SHA-256) is success with ``created: false``. Every archive is stamped with a digest of the
step's idempotency key, so a retry and ``compensate`` can tell the archive this step wrote —
in this attempt or an earlier one — from anybody else's: after ``remove_source`` a retry that
finds the source gone but its stamped archive in place succeeds, and ``compensate`` restores
the source from the archive before removing it.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator

from pydantic import Field

from filerelay.actions.base import Action, ActionContext
from filerelay.actions.fs import ops as fsops
from filerelay.actions.fs.archive_formats import (
    NO_MEMBER,
    UNREADABLE,
    ArchiveFormat,
    Member,
    extract_to,
    open_member,
    read_member,
    step_stamp,
    write_archive,
)
from filerelay.actions.fs.config import TargetConfig
from filerelay.actions.fs.destinations import (
    Destination,
    Placement,
    rename_candidates,
    render_destination,
    settle,
)
from filerelay.actions.fs.ops import Entry
from filerelay.config.types import TemplateStr
from filerelay.errors import ActionError, FileVanishedError, PermanentError, RetryableError
from filerelay.model import JSONDict
from filerelay.safefs import SourceFile, os_error


class ArchiveConfig(TargetConfig):
    """Compress the file into a zip or tar.gz archive of its own."""

    to: TemplateStr = Field(
        description="Archive path template, e.g. '/data/archive/{relpath}.zip'; relative paths "
        "are relative to the working directory. The result must stay under the directory "
        "of the template's literal text before its first field; a symbolic link below that "
        "directory is refused, never followed.",
        examples=["/data/archive/{relpath}.zip", "/data/archive/{date:%Y/%m}/{name}.tar.gz"],
    )
    format: ArchiveFormat = Field(default="zip", description="Archive format: zip or tar.gz.")
    compression_level: int = Field(
        default=6, ge=0, le=9, description="Deflate/gzip level: 0 (none, fastest) to 9 (smallest)."
    )
    remove_source: bool = Field(
        default=False,
        description="Delete the file once its archive is durable (compensate restores it).",
    )


class ArchiveAction(Action[ArchiveConfig]):
    """Archives the file; ``compensate`` restores a removed source and removes the archive
    this step wrote.

    Result: ``{path, format, size, member, sha256, created, skipped, owned, source_removed}``;
    ``size`` is the archive's size in bytes, ``sha256`` the source's; ``owned``: the archive
    at ``path`` was written by this step (this attempt or an earlier one).
    """

    name = "archive"
    Config = ArchiveConfig

    def run(self, ctx: ActionContext) -> JSONDict:
        dest = render_destination(ctx, self.config.to)
        try:
            source = ctx.open_source()
        except FileVanishedError:
            return self._already_archived(ctx, dest)
        with source, dest.parent() as entry:
            return self._place(ctx, source, entry)

    def _place(self, ctx: ActionContext, source: SourceFile, entry: Entry) -> JSONDict:
        member, stamp = member_name(ctx), step_stamp(ctx.idempotency_key)
        placement = settle(
            entry,
            self.config.on_conflict,
            lambda e: self._same(ctx, e),
            lambda p: self._write(ctx, source, p, member, stamp),
        )
        if placement.decision == "skip":
            return self._result(ctx, entry, created=False, skipped=True, owned=False)
        if placement.decision == "same":
            owned = self._read(placement.entry).stamp == stamp
            return self._finish(ctx, source, placement.entry, created=False, owned=owned)
        return self._finish(ctx, source, placement.entry, created=True, owned=True)

    def _same(self, ctx: ActionContext, entry: Entry) -> bool:
        """Whether ``entry`` is an archive of exactly this file (name, size, SHA-256)."""
        found = self._read(entry)
        if found.name != member_name(ctx) or found.size != ctx.event.size:
            return False
        return self._read(entry, digest=True).sha256 == ctx.sha256()

    def _read(self, entry: Entry, *, digest: bool = False) -> Member:
        fh = fsops.open_regular(entry)
        if fh is None:
            return NO_MEMBER
        with fh:
            try:
                return read_member(fh, self.config.format, digest=digest) or NO_MEMBER
            except OSError as exc:
                raise os_error(exc, "reading", entry.path) from exc

    def _write(
        self, ctx: ActionContext, source: SourceFile, placement: Placement, member: str, stamp: str
    ) -> None:
        """Write the archive to a temp file and publish it; FileExistsError (raw) if the
        destination appeared meanwhile."""
        cfg, dest = self.config, placement.entry
        tmp, fd = fsops.create_temp(dest)
        try:
            try:
                digest = write_archive(cfg.format, cfg.compression_level, source, fd, member, stamp)
                mode = cfg.target_mode(source.stat.st_mode)
                fsops.finish_file(fd, mode, mtime_ns=None, fsync=cfg.fsync)
            except OSError as exc:
                raise os_error(exc, "writing", dest.path) from exc
            except ActionError:
                source.check_unchanged(ctx.identity())  # a changed file explains it better
                raise
            finally:
                os.close(fd)
            # The bytes archived must be the version declared stable, not a torn newer write.
            source.check_unchanged(ctx.identity())
            if ctx.event.sha256 and ctx.event.sha256 != digest:
                raise PermanentError(f"file content changed since it was hashed: {ctx.path}")
            fsops.publish(tmp, dest, overwrite=placement.decision == "overwrite")
        finally:
            fsops.remove_quietly(tmp)  # after linkat the temp name is a second link to it
        if cfg.fsync:
            fsops.fsync_dir(dest.dir_fd, os.path.dirname(dest.path))
        ctx.set_sha256(digest)

    def _finish(
        self, ctx: ActionContext, source: SourceFile, entry: Entry, *, created: bool, owned: bool
    ) -> JSONDict:
        removed = False
        if self.config.remove_source:
            removed = source.is_named() and fsops.remove(fsops.entry_of(source))
            if removed and self.config.fsync:
                fsops.fsync_dir(source.dir_fd, os.path.dirname(ctx.path))
        return self._result(ctx, entry, created=created, owned=owned, source_removed=removed)

    def _already_archived(self, ctx: ActionContext, dest: Destination) -> JSONDict:
        """The source is gone: success only if an earlier attempt of this step archived it
        and removed it (our stamped archive is in place)."""
        stamp = step_stamp(ctx.idempotency_key)
        if self.config.remove_source:
            try:
                with dest.parent(create=False) as entry:
                    for candidate in self._candidates(entry):
                        found = self._read(candidate, digest=True)
                        ours = found.stamp == stamp and found.name == member_name(ctx)
                        same = found.size == ctx.event.size
                        if ours and same and ctx.event.sha256 in (None, found.sha256):
                            ctx.set_sha256(str(found.sha256))
                            return self._result(
                                ctx, candidate, created=False, owned=True, source_removed=True
                            )
            except FileNotFoundError:
                pass
        raise FileVanishedError(f"file vanished: {ctx.path}")

    def _candidates(self, dest: Entry) -> Iterator[Entry]:
        """The entries an earlier attempt may have used: ``dest``, then with 'rename' the
        'name (n).ext' names up to the first free one."""
        yield dest
        if self.config.on_conflict != "rename":
            return
        for entry in rename_candidates(dest):
            if not fsops.exists(entry):
                return
            yield entry

    def _result(
        self,
        ctx: ActionContext,
        entry: Entry,
        *,
        created: bool,
        owned: bool,
        skipped: bool = False,
        source_removed: bool = False,
    ) -> JSONDict:
        st = fsops.lstat(entry)
        if st is None:
            raise RetryableError(f"archive vanished right after it was checked: {entry.path}")
        return {
            "path": entry.path,
            "format": self.config.format,
            "size": st.st_size,
            "member": member_name(ctx),
            "sha256": ctx.sha256() if not skipped else ctx.event.sha256,
            "created": created,
            "skipped": skipped,
            "owned": owned,
            "source_removed": source_removed,
        }

    def compensate(self, ctx: ActionContext, result: JSONDict) -> None:
        """Put a removed source back (from the archive), then remove the archive if this step
        wrote it and it is still ours. The archive stays when the source cannot be restored:
        it would be the only copy left."""
        path = str(result["path"])
        try:
            with Destination.of(self.config.to, path).parent(create=False) as entry:
                if result.get("source_removed") and not self._restore_source(ctx, entry, result):
                    return
                if not result.get("owned"):
                    return
                found = self._read(entry)
                if found.stamp != step_stamp(ctx.idempotency_key) or found.size != ctx.event.size:
                    raise FileNotFoundError(path)
                fsops.remove(entry)
                if self.config.fsync:
                    fsops.fsync_dir(entry.dir_fd, os.path.dirname(path))
        except FileNotFoundError:
            ctx.log.warning("archive_compensate_skipped", path=path, reason="missing or changed")

    def _restore_source(self, ctx: ActionContext, archive: Entry, result: JSONDict) -> bool:
        root, parts = ctx.source_root()
        sha256 = str(result["sha256"])
        with Destination(root, tuple(parts)).parent() as origin:
            if fsops.exists(origin):
                if fsops.same_content(origin, ctx.event.size, lambda: sha256):
                    return True  # restored by an earlier run of this compensation
                ctx.log.warning("archive_restore_skipped", path=ctx.path, reason="path taken")
                return False
            try:
                self._restore(archive, origin, ctx.event.mtime_ns, sha256)
            except FileExistsError:
                ctx.log.warning("archive_restore_skipped", path=ctx.path, reason="path taken")
                return False
        return True

    def _restore(self, archive: Entry, origin: Entry, mtime_ns: int, sha256: str) -> None:
        """Extract the member back to ``origin`` atomically, with the event's mtime and the
        member's permission bits (never special bits); never replaces an existing file
        (FileExistsError, raw). The bytes must hash to ``sha256``."""
        tmp, fd = fsops.create_temp(origin)
        try:
            try:
                got = self._extract(archive, origin, fd, mtime_ns)
            finally:
                os.close(fd)
            if got != sha256:
                raise PermanentError(f"cannot restore {origin.path}: the archive's copy differs")
            fsops.publish(tmp, origin, overwrite=False)
        finally:
            fsops.remove_quietly(tmp)
        fsops.fsync_dir(origin.dir_fd, os.path.dirname(origin.path))

    def _extract(self, archive: Entry, origin: Entry, fd: int, mtime_ns: int) -> str:
        not_ours = PermanentError(f"cannot restore {origin.path}: {archive.path} is not ours")
        fh = fsops.open_regular(archive)
        if fh is None:
            raise not_ours
        try:
            with fh, open_member(fh, self.config.format) as found:
                if found is None:
                    raise not_ours
                got = extract_to(found[1], fd)
                fsops.finish_file(fd, found[0].mode, mtime_ns=mtime_ns, fsync=True)
                return got
        except OSError as exc:
            raise os_error(exc, "restoring", origin.path) from exc
        except UNREADABLE as exc:
            damaged = f"cannot restore {origin.path}: {archive.path} is damaged"
            raise PermanentError(damaged) from exc


def member_name(ctx: ActionContext) -> str:
    """The member's name in the archive: the file's own name."""
    return posixpath.basename(ctx.event.relpath)
