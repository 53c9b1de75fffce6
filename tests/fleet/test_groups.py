"""Groups of hosts by label: ``agents list --label`` and a per-group ``agent_offline`` rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from filerelay.alerting.measures import Inputs, agent_offline
from filerelay.alerting.repo import AlertStore
from filerelay.config.alerts import AgentOfflineRule
from filerelay.ops import rollout
from filerelay.store import Store, make_engine
from filerelay.store.agents import AgentInfo
from filerelay.store.fleet import FleetStore
from filerelay.store.schema import agents


def test_labels_select_agents_and_offline_alerts(sqlite_url: str) -> None:
    # given workers on three hosts, two in site sh, of which one went silent
    engine = make_engine(sqlite_url)
    store = Store(engine)
    for host, site in (("a", "sh"), ("b", "sh"), ("c", "bj")):
        info = AgentInfo(
            f"worker@{host}:1:t", "worker", host, 1, "x", 1.0, agent=host, labels={"site": site}
        )
        store.register_agent(info, {})
    old = datetime.now(UTC) - timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(
            update(agents).where(agents.c.agent.in_(["b", "c"])).values(last_heartbeat_at=old)
        )
    # when the agents of site sh are listed / then both are, with their state
    listed = rollout.list_agents(FleetStore(engine), {"site": "sh"})
    assert sorted((r.agent, str(r.state)) for r in listed) == [("a", "online"), ("b", "offline")]
    # when a per-group rule looks for silent workers of site sh / then only host b fires
    rule = AgentOfflineRule(
        name="sh-down", kind="agent_offline", after=60, labels={"site": "sh"}, channels=["x"]
    )
    found = agent_offline(rule, Inputs(AlertStore(engine), []), datetime.now(UTC))
    assert [(i.labels["agent_id"], i.labels["site"]) for i in found] == [("b", "sh")]
    engine.dispose()
