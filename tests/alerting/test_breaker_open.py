"""The ``breaker_open`` rule fires while a destination's breaker is open (or probing) and
resolves once it closed; and the operator's view of the breakers (``filerelay breakers``)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from filerelay.alerting.repo import AlertStore
from filerelay.cli import app
from filerelay.errors import UsageError
from filerelay.ops.breakers import close_breaker, list_breakers
from filerelay.store import Store, make_engine
from filerelay.store.db import utcnow
from filerelay.store.limits import LimitStore
from tests.alerting.helpers import evaluator, posts, write_config
from tests.alerting.test_rule_kinds import hook
from tests.conftest import migrated_sqlite
from tests.e2e.harness import clean_env


def test_breaker_open_fires_while_open_and_resolves_when_closed(
    sqlite_stores: tuple[Store, AlertStore], httpserver: HTTPServer, tmp_path: Path
) -> None:
    store, alert_store = sqlite_stores
    alerts = (
        f"  channels:\n{hook(httpserver)}  rules:\n"
        "    - {name: peer-down, kind: breaker_open, channels: [hook]}\n"
        "    - {name: only-s3, kind: breaker_open, channels: [hook],"
        " destinations: ['connection:s3']}\n"
    )
    ev = evaluator(write_config(tmp_path, alerts), alert_store)
    limits, t0 = LimitStore(store.engine), utcnow()
    # given a destination whose breaker opened after 2 failures
    for _ in range(2):
        limits.breaker_failure("host:hooks.example", "w1", t0, 2, 60, "HTTP 503")
    # when evaluated / then the rule fires for it, and the filtered rule does not
    assert ev.evaluate_once(t0 + timedelta(seconds=5)).firing == {"peer-down": 1, "only-s3": 0}
    [body] = posts(httpserver, "/hook")
    assert body["instances"][0]["key"] == "destination=host:hooks.example"
    assert "breaker open" in body["instances"][0]["summary"]
    # when a probe succeeded and closed it / then the rule resolves
    limits.breaker_success("host:hooks.example", t0 + timedelta(seconds=70))
    assert ev.evaluate_once(t0 + timedelta(seconds=75)).firing == {"peer-down": 0, "only-s3": 0}


def test_operator_lists_and_closes_breakers(tmp_path: Path) -> None:
    # given a store with one open breaker
    db_url = migrated_sqlite(tmp_path / "store.db")
    env = clean_env(FILERELAY_DATABASE_URL=db_url, FILERELAY_STATE_DIR=str(tmp_path / "state"))
    engine = make_engine(db_url)
    LimitStore(engine).breaker_failure("connection:s3", "w1", utcnow(), 1, 300, "timeout")
    # when the operator lists them (the use case, and the CLI's JSON)
    (view,) = list_breakers(Store(engine))
    shown = CliRunner().invoke(app, ["breakers", "--json"], env=env)
    # then both show it open, with its time left
    assert (view["destination"], view["state"], view["opens"]) == ("connection:s3", "open", 1)
    assert 290 < view["open_for_s"] <= 300
    assert shown.exit_code == 0 and json.loads(shown.stdout)[0]["state"] == "open"
    # when an unknown destination is closed / then a usage error names the known ones
    with pytest.raises(UsageError, match="known: connection:s3"):
        close_breaker(Store(engine), "host:nope")
    bad = CliRunner().invoke(app, ["breakers", "close", "host:nope"], env=env)
    assert bad.exit_code == 2 and "known: connection:s3" in bad.output
    # when it is closed by hand / then it is closed
    closed = CliRunner().invoke(app, ["breakers", "close", "connection:s3"], env=env)
    assert closed.exit_code == 0 and "closed (was open)" in closed.stdout
    assert list_breakers(Store(engine))[0]["state"] == "closed"
    engine.dispose()
