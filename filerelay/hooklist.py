"""Calling an ordered list of hooks (STYLE: cross-cutting concerns as hooks): each hook in
turn, and a hook that fails is logged loudly and never breaks the caller or the hooks after it.
The step hooks (:mod:`filerelay.pipeline.hooks`) and the watcher hooks
(:mod:`filerelay.watcher.hooks`) are both such lists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog

log = structlog.get_logger("filerelay.hooks")


def call_each(hooks: Iterable[object], name: str, *args: Any) -> None:
    """Call ``hook.<name>(*args)`` on every hook, logging (never raising) each failure."""
    for hook in hooks:
        try:
            getattr(hook, name)(*args)
        except Exception:
            log.error("hook_failed", hook=type(hook).__name__, call=name, exc_info=True)
