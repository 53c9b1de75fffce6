"""Heartbeats: registration, beats, a store outage that only logs, a clean stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from filerelay.agents import Heartbeat, LazyStore, agent_info
from filerelay.settings import load_settings


def test_heartbeat_registers_beats_survives_an_outage_and_stops_cleanly(tmp_path: Path) -> None:
    # given a heartbeat whose store is first unreachable
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/nodir/../s.db", heartbeat_s=0.1)
    bad = load_settings(database_url="postgresql+psycopg://x@127.0.0.1:1/none", heartbeat_s=0.1)
    lazy = LazyStore(bad)
    beat = Heartbeat(lazy, agent_info("worker", 0.1, queues=["q"]), lambda: {"n": 1})
    # when it beats during the outage / then it only reports failure
    assert beat.beat() is False
    # when the store is back
    lazy.settings = settings
    assert beat.beat() and beat.beat()
    # then the agent is registered and online, with its details
    store = lazy.get()
    (row,) = store.agents(datetime.now(UTC) - timedelta(minutes=1))
    assert row.state == "online" and row.details == {"n": 1} and row.queues == ["q"]
    # and a clean stop marks it stopped
    beat.stop()
    (row,) = store.agents(datetime.now(UTC) - timedelta(minutes=1))
    assert row.state == "stopped"
