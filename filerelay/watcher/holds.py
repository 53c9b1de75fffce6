"""The pause switch on the watcher side: which sources are *held* right now.

``filerelay pause`` sets a source's flag in the store's ``sources`` table. A
:class:`HoldPoller` thread reads the paused set every ~2 s — never on the hot path — into a
:class:`Holds` object; the publisher asks it which sources to skip, so files of a paused
source are still detected and written to the outbox but not published, and resume releases
them in outbox order. While the store cannot be reached the last known set stays in force,
also across a restart (it is cached in the state dir).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import structlog

from filerelay.statedir import write_private
from filerelay.watcher.outbox import DB_NAME

log = structlog.get_logger("filerelay.watcher")

POLL_S = 2.0
CACHE_NAME = "paused.json"


class Holds:
    """The set of held sources, shared between the poller and the publisher thread.

    The last known set is kept in ``cache`` (a small JSON file in the watcher's state dir),
    so a watcher restarting while the store is down still holds what was paused. ``known``
    turns true once the set came from the store or the cache.
    """

    def __init__(
        self, cache: Path | None = None, on_release: Callable[[], None] | None = None
    ) -> None:
        self._paused: frozenset[str] = frozenset()
        self._on_release = on_release
        self.cache = cache
        self.known = False
        if cache is not None and cache.exists():
            try:
                self._paused = frozenset(json.loads(cache.read_text()))
                self.known = True
            except (OSError, ValueError) as exc:
                log.warning("watcher.pause_cache_unreadable", path=str(cache), error=str(exc))

    def paused(self) -> frozenset[str]:
        """The sources whose events stay in the outbox."""
        return self._paused

    def update(self, names: Iterable[str]) -> bool:
        """Set the paused sources (from the store); True if that changed anything (logged)."""
        new = frozenset(names)
        old, self._paused = self._paused, new
        self.known = True
        if new == old:
            return False
        self._save(new)
        if new - old:
            log.info("watcher.sources_held", sources=sorted(new - old))
        if old - new:
            log.info("watcher.sources_released", sources=sorted(old - new))
            if self._on_release is not None:
                self._on_release()
        return True

    def _save(self, names: frozenset[str]) -> None:
        if self.cache is None:
            return
        try:
            write_private(self.cache, json.dumps(sorted(names)))
        except OSError as exc:
            log.warning("watcher.pause_cache_unwritable", path=str(self.cache), error=str(exc))


class HoldPoller(threading.Thread):
    """Reads the paused sources every ``interval_s`` into ``holds``; an error keeps the last
    known set (one warning per outage)."""

    def __init__(
        self, holds: Holds, fetch: Callable[[], set[str]], interval_s: float = POLL_S
    ) -> None:
        super().__init__(name="hold-poller", daemon=True)
        self.holds = holds
        self.fetch = fetch
        self.interval_s = interval_s
        self._stop_event = threading.Event()
        self._failing = False

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.poll_once()
            self._stop_event.wait(self.interval_s)

    def poll_once(self) -> None:
        try:
            self.holds.update(self.fetch())
        except Exception as exc:
            if not self._failing:
                log.warning("watcher.pause_poll_failed", error=str(exc).splitlines()[0][:300])
            self._failing = True
            return
        self._failing = False

    def stop(self) -> None:
        self._stop_event.set()


def held_counts(state_dir: Path, sources: frozenset[str]) -> dict[str, int]:
    """Outbox rows per held source, read on a separate read-only connection (WAL readers do
    not block the watcher's writes)."""
    path = Path(state_dir) / DB_NAME
    if not sources or not path.exists():
        return {}
    marks = ",".join("?" for _ in sources)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    try:
        rows = db.execute(
            "SELECT json_extract(event, '$.source'), COUNT(*) FROM outbox "
            f"WHERE json_extract(event, '$.source') IN ({marks}) GROUP BY 1",
            sorted(sources),
        ).fetchall()
    except sqlite3.OperationalError:  # no outbox table yet
        return {}
    finally:
        db.close()
    return {str(name): int(n) for name, n in rows}
