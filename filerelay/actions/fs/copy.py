"""The ``copy`` action: copy the file atomically to a templated destination path.

Idempotent: an identical file (same size and SHA-256) already at the destination — left by
an earlier attempt, say — is success with ``copied: false``. The destination never holds a
partial file (see :mod:`filerelay.actions.fs.ops`); the copy's mode follows the mode policy
(:mod:`filerelay.actions.fs.config`), never with setuid, setgid or sticky bits.
"""

from __future__ import annotations

from filerelay.actions.base import Action, ActionContext
from filerelay.actions.fs import ops as fsops
from filerelay.actions.fs.config import FileTargetConfig
from filerelay.actions.fs.destinations import Destination, Placement, render_destination, settle
from filerelay.errors import ActionError, PermanentError
from filerelay.model import JSONDict
from filerelay.safefs import SourceFile


class CopyConfig(FileTargetConfig):
    """Copy the file to another path, atomically."""


class CopyAction(Action[CopyConfig]):
    """Copies the file; ``compensate`` removes the copy this step made.

    Result: ``{path, size, sha256, copied, skipped}``.
    """

    name = "copy"
    Config = CopyConfig

    def run(self, ctx: ActionContext) -> JSONDict:
        dest = render_destination(ctx, self.config.to)
        with ctx.open_source() as source, dest.parent() as entry:
            return self._place(ctx, source, entry)

    def _place(self, ctx: ActionContext, source: SourceFile, entry: fsops.Entry) -> JSONDict:
        placement = settle(
            entry,
            self.config.on_conflict,
            lambda e: fsops.same_content(e, ctx.event.size, ctx.sha256),
            lambda p: self._copy(ctx, source, p),
        )
        copied = placement.decision in ("write", "overwrite")
        skipped = placement.decision == "skip"
        return self._result(ctx, placement.path, copied=copied, skipped=skipped)

    def _copy(self, ctx: ActionContext, source: SourceFile, placement: Placement) -> None:
        digest = fsops.atomic_copy(
            source,
            placement.entry,
            overwrite=placement.decision == "overwrite",
            mode=self.config.target_mode(source.stat.st_mode),
            fsync=self.config.fsync,
            preserve_mtime=self.config.preserve_mtime,
        )
        try:
            # The bytes read must be the version declared stable, not a torn newer write.
            source.check_unchanged(ctx.identity())
            if ctx.event.sha256 and ctx.event.sha256 != digest:
                raise PermanentError(f"file content changed since it was hashed: {ctx.path}")
        except ActionError:
            fsops.remove_quietly(placement.entry)
            raise
        ctx.set_sha256(digest)

    def _result(self, ctx: ActionContext, path: str, *, copied: bool, skipped: bool) -> JSONDict:
        return {
            "path": path,
            "size": ctx.event.size,
            "sha256": ctx.sha256(),
            "copied": copied,
            "skipped": skipped,
        }

    def compensate(self, ctx: ActionContext, result: JSONDict) -> None:
        """Remove the copy if this step wrote it and it still holds what we wrote."""
        if not result.get("copied"):
            return
        path = str(result["path"])
        try:
            with Destination.of(self.config.to, path).parent(create=False) as entry:
                size, sha256 = int(result["size"]), str(result["sha256"])
                if fsops.same_content(entry, size, lambda: sha256):
                    fsops.remove(entry)
                    return
        except FileNotFoundError:
            pass
        ctx.log.warning("copy_compensate_skipped", path=path, reason="missing or changed")
