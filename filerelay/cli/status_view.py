"""Rendering of ``filerelay status``."""

from __future__ import annotations

from rich.table import Table

from filerelay.cli.printable import printable
from filerelay.cli.views import ago, console, print_json, when
from filerelay.ops.status import Status
from filerelay.store.rows import AgentRow


def render(status: Status, as_json: bool) -> None:
    if as_json:
        print_json(status.as_dict())
        return
    out = console()
    for queue, depth in status.queues.items():
        shown = "unknown" if depth is None else str(depth)
        out.print(f"queue {queue}: {shown} waiting", markup=False)
    if status.broker_error:
        out.print(f"broker unreachable: {status.broker_error}", markup=False)
    if status.workers is not None:
        out.print(f"workers online: {len(status.workers)} {' '.join(status.workers)}")
    elif status.workers_note:
        out.print(f"workers: {status.workers_note}", markup=False)
    out.print(_agents(status.agents))
    paused = [s.name for s in status.sources if s.paused]
    if paused:
        out.print(f"paused sources: {', '.join(paused)}")
    out.print(f"last hour: {_counts(status.last_hour)}")
    out.print(f"last day:  {_counts(status.last_day)}")
    old = status.oldest_pending
    if old:
        out.print(
            printable(
                f"oldest pending: {old.id} {old.state} {old.source}:{old.relpath} "
                f"since {when(old.created_at)} ({ago(old.created_at)})"
            ),
            markup=False,
        )
    else:
        out.print("oldest pending: none")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no events"


def _agents(agents: list[AgentRow]) -> Table:
    table = Table("agent", "role", "host", "pid", "version", "state", "last heartbeat", "held")
    for a in agents:
        held = (a.details or {}).get("held") or {}
        table.add_row(
            a.id,
            a.role,
            a.host,
            str(a.pid),
            a.version,
            a.state,
            ago(a.last_heartbeat_at),
            ", ".join(f"{k} {v}" for k, v in held.items()),
        )
    return table
