"""The ``delete`` action: unlink the file.

There is no ``compensate``: deleted bytes cannot be brought back, so put ``delete`` last in a
route (after the steps whose failure should keep the file).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from filerelay.actions.base import Action, ActionContext
from filerelay.actions.fs import ops as fsops
from filerelay.errors import FileVanishedError
from filerelay.model import JSONDict


class DeleteConfig(BaseModel):
    """Delete the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    missing_ok: bool = Field(
        default=True,
        description="A file that is already gone is success (deleted: false); when false it "
        "fails the step as vanished.",
    )


class DeleteAction(Action[DeleteConfig]):
    """Unlinks the file if it is still the version declared stable.

    Result: ``{path, deleted}``. No compensation: a deletion cannot be undone.
    """

    name = "delete"
    Config = DeleteConfig

    def run(self, ctx: ActionContext) -> JSONDict:
        try:
            # A file rewritten since it was declared stable is a new version: never delete
            # it; nor a link or another file swapped in for it.
            source = ctx.open_source()
        except FileVanishedError:
            if self.config.missing_ok:
                return {"path": ctx.path, "deleted": False}
            raise
        with source:
            deleted = source.is_named() and fsops.remove(fsops.entry_of(source))
        if not deleted and not self.config.missing_ok:
            raise FileVanishedError(f"file vanished: {ctx.path}")
        return {"path": ctx.path, "deleted": deleted}
