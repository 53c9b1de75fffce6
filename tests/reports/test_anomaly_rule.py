"""The ``anomaly`` rule on four weeks of synthetic traffic written through the store (a
controllable clock): a spike and a drop fire exactly in the hour they happen, a quiet control
never does, and both resolve the hour after; too short a history never fires."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from filerelay.alerting.repo import AlertStore
from filerelay.store import Store
from tests.alerting.helpers import evaluator, posts, write_config
from tests.reports.conftest import T0, Clock, traffic

pytestmark = pytest.mark.slow  # weeks of history through the store: ~5 s

WEEK = timedelta(days=7)
NORMAL = {"spiky": [5, 6, 5, 4], "droppy": [12, 11, 12, 13], "quiet": [5, 5, 6, 4]}


def _history(store: Store, clock: Clock) -> None:
    """Weeks 1-4 before T0: the hours from 08:00 and 09:00 of each Monday; this week's 08:00
    normal, 09:00 with the spike (spiky x5) and the drop (droppy: nothing)."""
    for k in range(1, 5):
        for source, counts in NORMAL.items():
            for hour in (8, 9):
                at = T0 - k * WEEK - timedelta(hours=10 - hour)
                traffic(store, clock, at, counts[k - 1], source=source)
    for source, counts in NORMAL.items():
        traffic(store, clock, T0 - timedelta(hours=2), counts[0], source=source)
    traffic(store, clock, T0 - timedelta(hours=1), 25, source="spiky")
    traffic(store, clock, T0 - timedelta(hours=1), 5, source="quiet")
    for source in NORMAL:  # the hour after: normal again
        traffic(store, clock, T0, NORMAL[source][0], source=source)
        for k in range(1, 5):
            traffic(store, clock, T0 - k * WEEK, NORMAL[source][k - 1], source=source)


def test_spike_and_drop_fire_in_their_hour_and_resolve_after(
    clocked_store: tuple[Store, AlertStore], clock: Clock, httpserver: HTTPServer, tmp_path: Path
) -> None:
    store, alert_store = clocked_store
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    alerts = (
        f'  channels:\n    hook: {{type: webhook, url: "{httpserver.url_for("/hook")}"}}\n'
        "  rules:\n"
        "    - {name: volume, kind: anomaly, metric: files, by: source, threshold: 3,\n"
        "       weeks: 4, min_weeks: 3, channels: [hook]}\n"
        "    - {name: too-new, kind: anomaly, metric: files, by: source, weeks: 6,\n"
        "       min_weeks: 5, channels: [hook]}\n"
    )
    ev = evaluator(write_config(tmp_path, alerts, sources="spiky,droppy,quiet"), alert_store)
    # given four weeks of history and this week's spike and drop at 09:00
    _history(store, clock)
    # when evaluated at 09:59 (judging 08:00, a normal hour) / then nothing fires
    assert ev.evaluate_once(T0 - timedelta(minutes=1)).firing == {"volume": 0, "too-new": 0}
    # when evaluated at 10:01 (judging 09:00) / then the spike and the drop fire, in one send
    assert ev.evaluate_once(T0 + timedelta(minutes=1)).firing == {"volume": 2, "too-new": 0}
    [sent] = posts(httpserver, "/hook")
    assert [i["key"] for i in sent["instances"]] == ["source=droppy", "source=spiky"]
    assert [i["labels"]["direction"] for i in sent["instances"]] == ["drop", "spike"]
    assert "25 files" in sent["instances"][1]["summary"]
    # when evaluated again within the hour / then still firing, not sent again
    assert ev.evaluate_once(T0 + timedelta(minutes=20)).firing["volume"] == 2
    assert len(posts(httpserver, "/hook")) == 1
    # when evaluated at 11:01 (judging 10:00, normal) / then both resolve
    assert ev.evaluate_once(T0 + timedelta(hours=1, minutes=1)).firing["volume"] == 0
    resolved = posts(httpserver, "/hook")[-1]
    assert resolved["status"] == "resolved" and len(resolved["instances"]) == 2


def test_the_for_duration_holds_an_anomaly_pending(
    clocked_store: tuple[Store, AlertStore], clock: Clock, httpserver: HTTPServer, tmp_path: Path
) -> None:
    store, alert_store = clocked_store
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    alerts = (
        f'  channels:\n    hook: {{type: webhook, url: "{httpserver.url_for("/hook")}"}}\n'
        "  rules:\n"
        "    - {name: spikes, kind: anomaly, by: source, direction: spike, threshold: 3,\n"
        "       min_weeks: 3, for: 30m, channels: [hook]}\n"
    )
    ev = evaluator(write_config(tmp_path, alerts, sources="spiky,droppy,quiet"), alert_store)
    _history(store, clock)
    # when first seen / then pending (the drop is not watched by a spike rule)
    assert ev.evaluate_once(T0 + timedelta(minutes=1)).firing == {"spikes": 0}
    assert [s["instance"] for s in alert_store.states("spikes")] == ["source=spiky"]
    # when still there 30 minutes later / then firing
    assert ev.evaluate_once(T0 + timedelta(minutes=31)).firing == {"spikes": 1}
