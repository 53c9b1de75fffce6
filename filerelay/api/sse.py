"""Server-Sent Events for live pages: one poller thread per server process, shared by every
subscriber (never a database poll per viewer).

The poller reads, every :data:`POLL_S`, the events and pipelines that finished since its
last read (on the indexed ``updated_at``/``finished_at`` columns), the steps that started,
ended or were put back for a retry (:mod:`filerelay.store.step_outcomes`; one item per step
and attempt and state) and the log records after the last id, and hands them to each
subscriber's queue; a subscriber that falls behind loses the oldest items (its queue is
bounded), never stalls the others.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import Request

from filerelay.ops.deployment import Deployment
from filerelay.store.control import LogFilter
from filerelay.store.step_outcomes import StepOutcomes

log = structlog.get_logger("filerelay.api")

POLL_S = 1.0
KEEPALIVE_S = 15.0
#: how often a quiet stream checks that its client and the server are still there
WAKE_S = 1.0
QUEUE_SIZE = 1000
#: a finished row's timestamp may be written a little after a poll read past it
OVERLAP = timedelta(seconds=2)

Item = tuple[str, dict[str, Any]]


@dataclass(eq=False)
class Subscriber:
    """One SSE client: which kinds it wants, a filter, its queue and loop."""

    kinds: frozenset[str]
    accept: Callable[[str, dict[str, Any]], bool]
    queue: asyncio.Queue[Item]
    loop: asyncio.AbstractEventLoop

    def offer(self, kind: str, row: dict[str, Any]) -> None:
        if kind in self.kinds and self.accept(kind, row):
            self.loop.call_soon_threadsafe(self._put, (kind, row))

    def _put(self, item: Item) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(item)


class Hub:
    """The process's poller and its subscribers."""

    def __init__(self, dep: Deployment, poll_s: float = POLL_S) -> None:
        self.dep = dep
        self.poll_s = poll_s
        self._subs: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since = datetime.now(UTC)
        self._seen: set[tuple[str, Any]] = set()
        self._last_log: int | None = self._newest_log()
        self._steps = StepOutcomes(dep.store.engine)

    def _newest_log(self) -> int | None:
        """The id of the newest log record now: the stream starts after it."""
        try:
            newest = self.dep.control.logs(LogFilter(), 1)
        except Exception:  # the store is down: the first poll will say
            return None
        return int(newest[0]["id"]) if newest else 0

    def subscribe(
        self, kinds: frozenset[str], accept: Callable[[str, dict[str, Any]], bool]
    ) -> Subscriber:
        """A new subscriber (starts the poller on first use)."""
        sub = Subscriber(kinds, accept, asyncio.Queue(QUEUE_SIZE), asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sse-poller", daemon=True)
                self._thread.start()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    def stop(self) -> None:
        """End the poller and, within a second, every stream."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            with self._lock:
                subs = list(self._subs)
            if not subs:
                continue
            try:
                items = self.poll()
            except Exception as exc:  # the store is down: try again next time
                log.warning("sse_poll_failed", error=str(exc))
                continue
            for kind, row in items:
                for sub in subs:
                    sub.offer(kind, row)

    def poll(self) -> list[Item]:
        """What finished or was logged since the last poll, oldest first."""
        items: list[Item] = []
        start = self._since - OVERLAP
        found = self.dep.overview.outcomes_since(start)
        seen: set[tuple[str, Any]] = set()
        for kind, rows in found.items():
            for row in rows:
                key = (kind, row["id"])
                seen.add(key)
                if key not in self._seen:
                    items.append((kind, row))
        for row in self._steps.since(start):
            key = ("step", (row["id"], row["attempt"], row["state"]))
            seen.add(key)
            if key not in self._seen:
                items.append(("step", row))
        self._seen = seen
        self._since = datetime.now(UTC)
        if self._last_log is None:
            self._last_log = self._newest_log()
            return items
        for row in self.dep.control.logs(LogFilter(), 500, after_id=self._last_log):
            self._last_log = row["id"]
            items.append(("log", row))
        return items


def hub_of(request: Request) -> Hub:
    """The app's hub (made on first use)."""
    state = request.app.state
    if getattr(state, "hub", None) is None:
        state.hub = Hub(state.dep)
    hub: Hub = state.hub
    return hub


async def stream(request: Request, sub: Subscriber, hub: Hub) -> AsyncIterator[str]:
    """The SSE text of a subscriber's items, with keep-alive comments, until the client goes."""
    try:
        yield ": connected\n\n"
        quiet = 0.0
        while not hub.stopped and not await request.is_disconnected():
            try:
                kind, row = await asyncio.wait_for(sub.queue.get(), WAKE_S)
            except TimeoutError:
                quiet += WAKE_S
                if quiet >= KEEPALIVE_S:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                continue
            yield f"event: {kind}\ndata: {json.dumps(row, default=_default)}\n\n"
    finally:
        hub.unsubscribe(sub)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
