"""What ``copy``, ``move`` and ``archive`` share in their config: the destination template, the
``on_conflict`` policy, fsync, and the mode policy of the file they put there.

**Mode policy.** The file at the destination gets, in this order of precedence:

- ``mode`` (e.g. ``"0640"``) when set;
- the source's permission bits when ``preserve_mode: true``;
- otherwise ``0666`` less the worker's umask, like any file the worker creates.

setuid, setgid and sticky bits are never set (a ``mode`` with them is a config error): an
uploader's setuid file must not become a setuid program of the worker's user. The file
belongs to the worker's user, except after a ``move`` within one filesystem, where it is the
uploader's own file renamed (its mode is still set by the policy).
"""

from __future__ import annotations

import os
import stat
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from filerelay.actions.fs.destinations import ON_CONFLICT_HELP, OnConflict
from filerelay.config.types import TemplateStr

SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


def _mode(value: Any) -> int:
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        if not text or any(c not in "01234567" for c in text):
            raise ValueError(f"mode {value!r}: give octal digits, e.g. '0640'")
        value = int(text, 8)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0o7777:
        raise ValueError(f"mode {value!r}: give octal digits, e.g. '0640'")
    if value & SPECIAL_BITS:
        raise ValueError(
            f"mode {value:04o}: setuid, setgid and sticky bits are never set; "
            f"use {value & 0o777:04o}"
        )
    return value


FileMode = Annotated[int, BeforeValidator(_mode)]


class TargetConfig(BaseModel):
    """The fields of an action that puts a file at a templated path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: TemplateStr = Field(
        description="Destination path template, e.g. '/data/done/{relpath}'; relative paths "
        "are relative to the working directory. The result must stay under the directory "
        "of the template's literal text before its first field; a symbolic link below "
        "that directory is refused, never followed.",
        examples=["/data/done/{relpath}", "/archive/{source}/{date:%Y/%m/%d}/{name}"],
    )
    on_conflict: OnConflict = Field(default="fail", description=ON_CONFLICT_HELP)
    fsync: bool = Field(
        default=True, description="fsync the file and its directory before success."
    )
    mode: FileMode | None = Field(
        default=None,
        description="Permission bits of the file at the destination, octal (e.g. '0640'). "
        "Default: 0666 less the worker's umask. setuid, setgid and sticky bits are refused.",
        examples=["0640"],
    )
    preserve_mode: bool = Field(
        default=False,
        description="Give the file the source's permission bits (never its setuid, setgid or "
        "sticky bits). Not with 'mode'.",
    )

    @model_validator(mode="after")
    def _one_mode_policy(self) -> TargetConfig:
        if self.mode is not None and self.preserve_mode:
            raise ValueError("give 'mode' or 'preserve_mode: true', not both")
        return self

    def target_mode(self, source_mode: int) -> int:
        """The permission bits for the file at the destination (see the module docstring)."""
        if self.mode is not None:
            return self.mode
        if self.preserve_mode:
            return stat.S_IMODE(source_mode) & 0o777
        return 0o666 & ~umask()


class FileTargetConfig(TargetConfig):
    """The fields of an action that puts the file itself (not an archive of it) at a path."""

    preserve_mtime: bool = Field(
        default=True,
        description="Give a copy the source's mtime (a rename within one filesystem keeps it).",
    )


def umask() -> int:
    """The process umask, read without changing it (Linux /proc; else set and restore)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current
