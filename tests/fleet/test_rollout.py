"""The config center's use cases on a real store (SQLite and PostgreSQL): push, canary,
promote, rollback, refusal; and the agent side (pull, validate, switch, refuse, outage)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from filerelay.errors import ConfigError, UsageError
from filerelay.fleet.puller import ConfigAgent
from filerelay.ops import rollout
from filerelay.settings import load_settings
from filerelay.store import ensure_schema, make_engine
from filerelay.store.fleet import CANARY, PROMOTED, ROLLED_BACK, STOPPED, FleetStore

CONFIG = """\
sources:
  - name: inbox
    path: "{inbox}"
routes:
  - name: {route}
    steps:
      - copy: {{to: "/tmp/out/{{relpath}}"}}
"""


def _open(url: str) -> FleetStore:
    engine = make_engine(url)
    ensure_schema(engine, auto_upgrade=True)
    return FleetStore(engine)


@pytest.fixture
def fleet_any(migrated_db_url: str) -> Iterator[FleetStore]:
    """SQLite and PostgreSQL (the lifecycle); the other tests run on SQLite only (time)."""
    store = _open(migrated_db_url)
    yield store
    store.engine.dispose()


@pytest.fixture
def fleet(sqlite_url: str) -> Iterator[FleetStore]:
    store = _open(sqlite_url)
    yield store
    store.engine.dispose()


def _config(tmp_path: Path, route: str) -> str:
    return CONFIG.format(inbox=tmp_path, route=route)


def test_canary_promote_and_rollback_assign_versions(fleet_any: FleetStore, tmp_path: Path) -> None:
    fleet = fleet_any
    # given v1 pushed to every agent
    v1 = rollout.push_config(fleet, _config(tmp_path, "one"), "v1.yaml")
    assert (v1.version, v1.created, v1.rollout.state) == (1, True, PROMOTED)
    assert rollout.push_config(fleet, _config(tmp_path, "one"), "again.yaml").created is False
    # when v2 is a canary for agents labelled site=sh
    target = rollout.parse_target(None, "site=sh", None)
    v2 = rollout.push_config(fleet, _config(tmp_path, "two"), "v2.yaml", target)
    # then those agents get v2, the others v1
    assert v2.rollout.state == CANARY
    assert fleet.assigned("a", {"site": "sh"}).version == 2
    assert fleet.assigned("b", {"site": "bj"}).version == 1
    # and no other version may be pushed while it is under way
    with pytest.raises(UsageError, match="promote it or roll it back"):
        rollout.push_config(fleet, _config(tmp_path, "three"), "v3.yaml")
    # when promoted: every agent on v2; rolled back: every agent on v1
    rollout.promote(fleet)
    assert fleet.assigned("b", {}).version == 2
    rollout.rollback(fleet)
    assert fleet.assigned("a", {"site": "sh"}).version == 1
    # and a rollback to a named version gives it to every agent
    rollout.rollback(fleet, 2)
    assert fleet.assigned("x", {}).version == 2
    with pytest.raises(UsageError, match="no config version 9"):
        rollout.rollback(fleet, 9)


def test_a_refusal_stops_the_canary_and_a_canary_rollback_restores_the_baseline(
    fleet: FleetStore, tmp_path: Path
) -> None:
    rollout.push_config(fleet, _config(tmp_path, "one"), "v1.yaml")
    rollout.push_config(fleet, _config(tmp_path, "two"), "v2.yaml", rollout.Target(agents=("a",)))
    # when an agent refuses v2 / then the canary stops and cannot be promoted
    stopped = fleet.note_refusal(2, "agent a refused v2: bad")
    assert stopped is not None and stopped.state == STOPPED
    with pytest.raises(UsageError, match="stopped"):
        rollout.promote(fleet)
    # when it is rolled back / then agent a is assigned the baseline again
    assert rollout.rollback(fleet).state == ROLLED_BACK
    assert fleet.assigned("a", {}).version == 1


def test_push_refuses_literal_secrets_and_bad_targets(fleet: FleetStore, tmp_path: Path) -> None:
    secret = _config(tmp_path, "one") + (
        "connections:\n  mq: {type: amqp, url: 'amqp://u:hunter2@127.0.0.1//'}\n"
    )
    with pytest.raises(ConfigError, match=r"literal secrets.*\$\{NAME\}"):
        rollout.push_config(fleet, secret, "s.yaml")
    with pytest.raises(UsageError, match="one of --agents, --label and --canary"):
        rollout.parse_target("a", None, "10%")
    with pytest.raises(UsageError, match="not a percentage"):
        rollout.parse_target(None, None, "ten")
    with pytest.raises(UsageError, match="push the first one to all agents"):
        rollout.push_config(fleet, _config(tmp_path, "one"), "v.yaml", rollout.Target(("a",)))
    rollout.push_config(fleet, _config(tmp_path, "one"), "v1.yaml")
    with pytest.raises(UsageError, match="no agent is online"):
        rollout.push_config(
            fleet, _config(tmp_path, "one"), "v.yaml", rollout.Target(canary_percent=50)
        )


def test_the_agent_switches_refuses_and_keeps_its_last_good_version(
    tmp_path: Path, sqlite_url: str
) -> None:
    # given a SQLite store with v1 for everyone and an agent of host "a"
    url = sqlite_url
    engine = make_engine(url)
    fleet = FleetStore(engine)
    settings = load_settings(state_dir=tmp_path / "state", database_url=url, agent_id="a")
    agent = ConfigAgent(settings, check_paths=True, store=fleet)
    rollout.push_config(fleet, _config(tmp_path, "one"), "v1.yaml")
    # when it pulls / then it writes v1 as the config it runs
    assert agent.pull().switched == 1
    assert "name: one" in agent.path.read_text()
    assert agent.pull().switched is None  # up to date
    # when v2 names a source path this host lacks / then it is refused, v1 stays
    rollout.push_config(fleet, CONFIG.format(inbox=tmp_path / "gone", route="two"), "v2.yaml")
    assert agent.pull().refused == 2
    assert "name: one" in agent.path.read_text()
    assert agent.state()["refused"]["version"] == 2
    assert "refused v2" in (fleet.current()[0].reason or "")
    # when v1 is assigned again / then the refusal is forgotten
    rollout.rollback(fleet, 1)
    agent.pull()
    assert "refused" not in agent.state() and agent.state()["version"] == 1
    # when the store is gone / then nothing changes
    engine.dispose()
    (tmp_path / "store.db").unlink()
    broken = ConfigAgent(settings, check_paths=True, store=FleetStore(make_engine(url + "x/y")))
    assert broken.pull().error
    assert "name: one" in agent.path.read_text()
