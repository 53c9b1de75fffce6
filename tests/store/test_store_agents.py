"""Agents (registration, heartbeats, online/offline/stopped), the pause switch, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from filerelay.store import Store
from filerelay.store.agents import AgentInfo, state_of
from filerelay.store.schema import agents, file_events, pipelines, steps
from tests.store.store_helpers import admit, make_event, plan, record, run_step, step, steps_at

HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def info(agent_id: str, role: str = "worker", heartbeat_s: float = 10.0) -> AgentInfo:
    return AgentInfo(
        id=agent_id,
        role=role,
        host="h1",
        pid=42,
        version="0.1.0",
        heartbeat_s=heartbeat_s,
        queues=["filerelay"],
    )


def test_agents_are_online_offline_or_stopped(store: Store) -> None:
    # given three registered agents
    store.register_agent(info("w1"), {"x": 1})
    store.register_agent(info("w2"))
    store.register_agent(info("wt", role="watcher"), {"held": {"a": 3}})
    # when w2 falls silent for more than 3 heartbeats and wt stops cleanly
    with store.engine.begin() as conn:
        conn.execute(update(agents).where(agents.c.id == "w2").values(last_heartbeat_at=HOUR_AGO))
    assert store.agent_heartbeat("w1", {"x": 2})
    assert store.stop_agent("wt")
    # then
    by_id = {a.id: a for a in store.agents(HOUR_AGO - timedelta(minutes=1))}
    assert {k: v.state for k, v in by_id.items()} == {
        "w1": "online",
        "w2": "offline",
        "wt": "stopped",
    }
    assert by_id["w1"].details == {"x": 2} and by_id["w1"].queues == ["filerelay"]
    assert [a.id for a in store.agents(HOUR_AGO, role="watcher", host="h1")] == ["wt"]
    # and an unknown agent's heartbeat says so (it registers again)
    assert not store.agent_heartbeat("nope")


def test_state_of_counts_three_missed_heartbeats() -> None:
    now = datetime.now(UTC)
    row = {"stopped_at": None, "heartbeat_s": 2.0, "last_heartbeat_at": now - timedelta(seconds=5)}
    assert state_of(row, now) == "online"
    assert state_of(row | {"last_heartbeat_at": now - timedelta(seconds=7)}, now) == "offline"


def test_pause_switch_survives_and_registration_keeps_it(store: Store) -> None:
    store.register_source("cam", "/data/cam")
    assert store.set_paused("cam", True, "alice@h1")
    assert not store.set_paused("cam", True, "alice@h1")  # already paused
    store.register_source("cam", "/data/cam2")  # a watcher restarting keeps the switch
    assert store.paused_sources() == {"cam"}
    row = store.sources()[0]
    assert row.root == "/data/cam2" and row.paused_by == "alice@h1"
    assert store.set_paused("cam", False, "bob")
    assert store.paused_sources() == set()


def test_prune_deletes_old_finished_events_with_their_rows_in_batches(store: Store) -> None:
    # given 5 old succeeded events with a pipeline each, a duplicate of one, and a new one
    old = []
    for i in range(5):
        event = make_event(f"o{i}.txt")
        (pid,) = admit(store, event, plan("r", step(0, "s")))
        (sid,) = steps_at(store, pid, 0)
        run_step(store, sid, {})
        old.append(event.event_id)
    dup = make_event("o0.txt", dedup_key=store.get_event(old[0]).dedup_key)
    record(store, dup)
    fresh = make_event("new.txt")
    record(store, fresh)
    with store.engine.begin() as conn:
        conn.execute(
            update(file_events).where(file_events.c.id.in_(old)).values(created_at=HOUR_AGO)
        )
    cutoff = datetime.now(UTC) - timedelta(minutes=30)
    # when counted, then pruned 2 at a time
    assert store.prune_count(cutoff, ["succeeded"]).events == 5
    total = 0
    while n := store.prune_batch(cutoff, ["succeeded"], size=2).events:
        total += n
    # then the old events, their pipelines and steps are gone; the others stay
    assert total == 5
    with store.engine.connect() as conn:
        assert conn.execute(select(pipelines)).first() is None
        assert conn.execute(select(steps)).first() is None
    assert store.get_event(fresh.event_id) is not None
    kept = store.get_event(dup.event_id)
    assert kept is not None and kept.duplicate_of is None
