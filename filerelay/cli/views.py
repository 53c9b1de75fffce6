"""Rendering for the operator commands: rich tables for people, ``--json`` for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from filerelay import fsnames
from filerelay.cli.printable import cell, printable
from filerelay.ops.events import EventHistory, EventList
from filerelay.store.rows import StepRow

PROGRESS_FROM = 100  # selections at least this large get a progress bar


def console() -> Console:
    """stdout; wide enough not to fold ids when it is not a terminal. Text is printed as it
    is: no markup (``[red]`` in a file name), no emoji codes (``:camera:``)."""
    width = None if sys.stdout.isatty() else 200
    return Console(width=width, markup=False, emoji=False, highlight=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def shown(value: Any) -> Any:
    """``value`` with every string readable: a file name's non-UTF-8 bytes as ``\\xNN``
    (:func:`filerelay.fsnames.readable`), so printing it never fails."""
    if isinstance(value, str):
        return fsnames.readable(value)
    if isinstance(value, dict):
        return {shown(k): shown(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shown(v) for v in value]
    return value


def print_json(data: Any) -> None:
    print(json.dumps(shown(data), default=_jsonable, indent=2, sort_keys=False))


def when(value: datetime | None) -> str:
    """A UTC timestamp to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def ago(value: datetime | None) -> str:
    if value is None:
        return "-"
    seconds = (datetime.now(UTC) - value).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def events_page(page: EventList, as_json: bool) -> None:
    if as_json:
        print_json({"events": [r.to_json() for r in page.rows], "next_cursor": page.next_cursor})
        return
    table = Table("created (UTC)", "id", "state", "source", "relpath", "routes", "reason")
    for r in page.rows:
        reason = (r.reason or "")[:160]
        cells = (r.id, r.state, r.source, r.relpath, ",".join(r.routes), reason)
        table.add_row(when(r.created_at), *(cell(c) for c in cells))
    out = console()
    out.print(table)
    if page.next_cursor:
        out.print(f"more: --cursor {page.next_cursor}", soft_wrap=True)


def history(events: list[EventHistory], as_json: bool) -> None:
    """The events of one id or path, each with its timeline of runs and steps."""
    if as_json:
        print_json({"events": [e.to_json() for e in events]})
        return
    out = _ReadableConsole()
    for item in events:
        ev = item.event
        line = (
            f"{ev.id} {ev.state}  {ev.source}:{ev.relpath}  "
            f"size {ev.size}  created {when(ev.created_at)}  signal {ev.stable_signal}"
        )
        out.print(printable(line), soft_wrap=True, markup=False)
        if ev.reason:
            out.print(printable(f"  reason: {ev.reason}"), soft_wrap=True, markup=False)
        for p in item.pipelines:
            out.print(
                printable(
                    f"  run {p.run} route {p.route}: {p.status}  {when(p.created_at)}"
                    f" -> {when(p.finished_at)}  rules {p.config_hash[:12]}"
                ),
                soft_wrap=True,
                markup=False,
            )
            for s in p.steps:
                out.print(printable("    " + _step_line(s)), soft_wrap=True, markup=False)


def _step_line(s: StepRow) -> str:
    duration = f"{s.duration_ms}ms" if s.duration_ms is not None else "-"
    line = f"{s.name} ({s.action}): {s.status}, attempts {s.attempts}/{s.max_attempts}, {duration}"
    if s.result:
        line += f", result {json.dumps(s.result, default=_jsonable)[:200]}"
    if s.last_error:
        line += f", error {s.last_error[:300]}"
    return line


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Any]:
    """A callback advancing a rich progress bar on stderr (a no-op for small totals)."""
    if total < PROGRESS_FROM:
        yield lambda n: None
        return
    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True)
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


class _ReadableConsole:
    """A :func:`console` whose printed strings are made readable first (see :func:`shown`)."""

    def __init__(self) -> None:
        self._out = console()

    def print(self, text: str, **kwargs: Any) -> None:
        self._out.print(fsnames.readable(text), **kwargs)
