"""``filerelay rules explain``: which routes a file would run, and why the others would not."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filerelay.cli.printable import printable
from filerelay.model import StableSignal, stat_event
from filerelay.routing import Router
from filerelay.watcher.filters import PathFilter


@dataclass(frozen=True)
class Explained:
    path: str
    header: str
    verdicts: list[tuple[str, str]]
    error: str | None = None


def _owner(config: Any, path: Path) -> tuple[Any, str] | None:
    """The source whose root holds ``path`` (the deepest one) and the relpath under it."""
    best: tuple[Any, str] | None = None
    best_len = -1
    for src in config.sources:
        root = src.path.expanduser().resolve()
        try:
            rel = path.relative_to(root)
        except ValueError:
            continue
        if len(root.parts) > best_len:
            best, best_len = (src, rel.as_posix()), len(root.parts)
    return best


def explain_path(config: Any, router: Router, raw: str) -> Explained:
    """Explain one path without running anything (reads its stat and first bytes only)."""
    path = Path(raw).expanduser().absolute()
    owner = _owner(config, path.resolve())
    if owner is None:
        roots = ", ".join(str(s.path) for s in config.sources)
        return Explained(raw, "", [], f"{raw}: not under any source ({roots})")
    source, relpath = owner
    try:
        st = os.stat(path)
    except OSError as exc:
        return Explained(raw, "", [], f"{raw}: cannot stat: {exc.strerror}")
    event = stat_event(
        source.name,
        str(path),
        relpath,
        st,
        signal=StableSignal.MANUAL,
        tags=source.tags,
        host=socket.gethostname(),
    )
    facts = router.facts(event)
    header = f"source {source.name}, relpath {relpath}, {st.st_size} bytes, {facts.mime}"
    if not PathFilter(source)(relpath):
        header += " — IGNORED by the source's include/exclude, temp-name or hidden-file filters"
    return Explained(raw, header, router.explain(event))


def render(explained: Explained) -> list[str]:
    if explained.error:
        return [printable(f"error: {explained.error}")]
    width = max((len(name) for name, _ in explained.verdicts), default=0)
    lines = [printable(f"{explained.path}: {explained.header}")]
    lines += [f"  {name:<{width}}  {verdict}" for name, verdict in explained.verdicts]
    if not any(v.startswith("matches") for _, v in explained.verdicts):
        lines.append("  -> no route matches: the event would be recorded 'skipped'")
    return lines
