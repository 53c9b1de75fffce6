"""Fixtures of the reports tests: a store whose clock the test sets, and traffic written
through the store's own recording paths (admit, processing, succeeded or failed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from filerelay.alerting.repo import AlertStore
from filerelay.store import Store, make_engine
from tests.actions.test_notify_email import SmtpServer as SmtpServer
from tests.actions.test_notify_email import smtp_server as smtp_server
from tests.conftest import migrated_sqlite
from tests.store.store_helpers import make_event, record

#: A Monday, 10:00 UTC: "now" of the synthetic histories.
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


class Clock:
    """The store's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Every store write records this time as ``now``."""
    c = Clock(T0)
    monkeypatch.setattr("filerelay.store.repo.utcnow", c)
    return c


@pytest.fixture
def clocked_store(tmp_path: Path, clock: Clock) -> Iterator[tuple[Store, AlertStore]]:
    engine = make_engine(migrated_sqlite(tmp_path / "store.db"))
    try:
        yield Store(engine), AlertStore(engine)
    finally:
        engine.dispose()


def traffic(
    store: Store,
    clock: Clock,
    at: datetime,
    files: int,
    *,
    source: str = "cam",
    failed: int = 0,
    size: int = 1000,
    spread_s: float = 3000,
    latency_s: float = 2.0,
) -> None:
    """``files`` files of ``source`` finishing from ``at`` over ``spread_s`` seconds, the
    last ``failed`` of them failing, each detected ``latency_s`` before it finished."""
    for i in range(files):
        clock.now = at + timedelta(seconds=spread_s * i / max(1, files))
        detected = (clock.now - timedelta(seconds=latency_s)).timestamp()
        relpath = f"t/{clock.now.timestamp()}-{i}.bin"
        event = make_event(relpath, source=source, size=size, detected_at=detected)
        record(store, event)
        store.set_event_state(event.event_id, "processing")
        if i >= files - failed:
            store.set_event_state(event.event_id, "failed", "HTTP 503 from upstream")
        else:
            store.set_event_state(event.event_id, "succeeded")
