"""The ``slo_burn`` rule (multiwindow burn rates, Google SRE workbook) on traffic written
through the store with a controllable clock: a fast burn fires in the 1 h / 5 min pair, an
old burn (outside the windows) and a healthy SLO never fire, and it resolves once the
windows hold good files again; ``slo status`` shows attainment and budget."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from filerelay.alerting.repo import AlertStore
from filerelay.config.reports import SloConfig
from filerelay.ops.reports import slo_status
from filerelay.store import Store
from tests.alerting.helpers import evaluator, posts, write_config
from tests.reports.conftest import T0, Clock, traffic

pytestmark = pytest.mark.slow  # 140 files through the store: ~2-3 s

SLOS = """\
slos:
  - {name: cam-ok, source: cam, objective: 0.99, window: 1d}
  - {name: old-ok, source: old, objective: 0.99, window: 1d}
  - {name: calm-ok, source: calm, objective: 0.99, window: 1d}
"""


def test_fast_burn_fires_and_resolves(
    clocked_store: tuple[Store, AlertStore], clock: Clock, httpserver: HTTPServer, tmp_path: Path
) -> None:
    store, alert_store = clocked_store
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    rules = "".join(
        f"    - {{name: {n}-burn, kind: slo_burn, slo: {n}-ok, channels: [hook]}}\n"
        for n in ("cam", "old", "calm")
    )
    alerts = (
        f'  channels:\n    hook: {{type: webhook, url: "{httpserver.url_for("/hook")}"}}\n'
        f"  rules:\n{rules}"
    )
    path = write_config(tmp_path, alerts, sources="cam,old,calm")
    path.write_text(path.read_text() + SLOS)
    ev = evaluator(path, alert_store)
    # given cam: 30 files in the last 50 min, the last 6 failing (in the last 10 min);
    # old: the same burn 3 hours ago; calm: 20 good files
    traffic(store, clock, T0 - timedelta(minutes=50), 30, source="cam", failed=6)
    traffic(store, clock, T0 - timedelta(hours=3), 30, source="old", failed=6, spread_s=600)
    traffic(store, clock, T0 - timedelta(minutes=50), 20, source="calm")
    # when evaluated now / then only cam's budget burns in both fast windows
    firing = ev.evaluate_once(T0).firing
    assert firing == {"cam-burn": 1, "old-burn": 0, "calm-burn": 0}
    [sent] = posts(httpserver, "/hook")
    assert sent["instances"][0]["key"] == "slo=cam-ok"
    assert "20.0x over 1h" in sent["instances"][0]["summary"]
    # and slo status tells attainment and the budget spent
    status = {s["name"]: s for s in slo_status(store, _slos(), T0)}
    assert (status["cam-ok"]["good"], status["cam-ok"]["total"]) == (24, 30)
    assert status["cam-ok"]["met"] is False and status["calm-ok"]["met"] is True
    assert status["calm-ok"]["error_budget_remaining"] == 1.0
    # when good files follow for an hour / then the short window is clean and it resolves
    traffic(store, clock, T0 + timedelta(minutes=5), 60, source="cam", spread_s=3000)
    assert ev.evaluate_once(T0 + timedelta(minutes=56)).firing["cam-burn"] == 0
    assert posts(httpserver, "/hook")[-1]["status"] == "resolved"


def _slos() -> list[SloConfig]:
    return [
        SloConfig(name=n, source=s, objective=0.99, window=86400)
        for n, s in (("cam-ok", "cam"), ("calm-ok", "calm"))
    ]
