"""The ``copy`` action: copy the file atomically to a templated destination path.

Idempotent: an identical file (same size and SHA-256) already at the destination — left by
an earlier attempt, say — is success with ``copied: false``. The destination never holds a
partial file (see :mod:`filerelay.actions.fs.ops`).
"""

from __future__ import annotations

import contextlib

from pydantic import BaseModel, ConfigDict, Field

from filerelay.actions.base import Action, ActionContext
from filerelay.actions.fs import ops as fsops
from filerelay.actions.fs.destinations import (
    ON_CONFLICT_HELP,
    OnConflict,
    Placement,
    place,
    render_destination,
)
from filerelay.config.types import TemplateStr
from filerelay.errors import ActionError, PermanentError, RetryableError
from filerelay.model import JSONDict

# Another writer can take the chosen name between the check and the link: decide again.
PLACEMENT_ATTEMPTS = 5


class CopyConfig(BaseModel):
    """Copy the file to another path, atomically."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: TemplateStr = Field(
        description="Destination path template, e.g. '/data/done/{relpath}'; relative paths "
        "are relative to the working directory. The result must stay under the directory "
        "of the template's literal text before its first field.",
        examples=["/data/done/{relpath}", "/archive/{source}/{date:%Y/%m/%d}/{name}"],
    )
    on_conflict: OnConflict = Field(default="fail", description=ON_CONFLICT_HELP)
    preserve_mtime: bool = Field(
        default=True, description="Give the copy the source's mtime and atime."
    )
    fsync: bool = Field(
        default=True, description="fsync the copy and its directory before success."
    )


class CopyAction(Action[CopyConfig]):
    """Copies the file; ``compensate`` removes the copy this step made.

    Result: ``{path, size, sha256, copied, skipped}``.
    """

    name = "copy"
    Config = CopyConfig

    def run(self, ctx: ActionContext) -> JSONDict:
        ctx.check_unchanged()
        dest = render_destination(ctx, self.config.to)
        size = ctx.event.size
        for _ in range(PLACEMENT_ATTEMPTS):
            placement = place(
                dest,
                self.config.on_conflict,
                lambda path: fsops.same_content(path, size, ctx.sha256),
            )
            if placement.decision in ("same", "skip"):
                skipped = placement.decision == "skip"
                return self._result(ctx, placement.path, copied=False, skipped=skipped)
            try:
                self._copy(ctx, placement)
            except FileExistsError:
                continue
            return self._result(ctx, placement.path, copied=True, skipped=False)
        raise RetryableError(f"destination kept changing while copying to {dest}")

    def _copy(self, ctx: ActionContext, placement: Placement) -> None:
        digest = fsops.atomic_copy(
            ctx.path,
            placement.path,
            overwrite=placement.decision == "overwrite",
            fsync=self.config.fsync,
            preserve_mtime=self.config.preserve_mtime,
        )
        try:
            # The bytes read must be the version declared stable, not a torn newer write.
            ctx.check_unchanged()
            if ctx.event.sha256 and ctx.event.sha256 != digest:
                raise PermanentError(f"file content changed since it was hashed: {ctx.path}")
        except ActionError:
            _unlink_quietly(placement.path)
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
        if not fsops.same_content(path, int(result["size"]), lambda: str(result["sha256"])):
            ctx.log.warning("copy_compensate_skipped", path=path, reason="missing or changed")
            return
        fsops.remove(path)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(ActionError):
        fsops.remove(path)
