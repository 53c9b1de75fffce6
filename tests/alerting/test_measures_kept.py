"""Each rule's measure is kept at every evaluation, holding or not (the console's Alerts page
shows it): the worst value against the threshold, with what it is of and when."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from filerelay.alerting.repo import AlertStore
from filerelay.store import Store
from filerelay.store.db import as_utc, utcnow
from tests.alerting.helpers import evaluator, finished, write_config

RULES = """\
  channels:
    hook: {type: webhook, url: "http://127.0.0.1:9/never"}
  rules:
    - name: failing
      kind: failure_rate
      by: source
      threshold: 0.5
      min_events: 2
      window: 2h
      for: 1h
      channels: [hook]
    - name: quiet
      kind: silent_source
      after: 1h
      channels: [hook]
    - name: stuck
      kind: backlog
      max_pending_age: 10m
      channels: [hook]
"""


def test_every_rule_keeps_its_measure_whether_or_not_it_holds(
    stores: tuple[Store, AlertStore], tmp_path: Path
) -> None:
    # given a source 'cam' with 1 failed of 4 and 'dock' with 2 failed of 2, and one queued
    store, alert_store = stores
    path = write_config(tmp_path, RULES, sources="cam,dock")
    ev = evaluator(path, alert_store)
    for state in ["failed", "succeeded", "succeeded", "succeeded"]:
        finished(store, state, source="cam")
    for _ in range(2):
        finished(store, "failed", source="dock")
    finished(store, "queued", source="cam")
    # when the rules are evaluated (nothing fires yet: 'for' is an hour)
    now = utcnow()
    ev.evaluate_once(now)
    kept = alert_store.measures()
    # then the failure rate's worst source is kept with the threshold, holding
    assert kept["failing"]["value"] == 1.0 and kept["failing"]["threshold"] == 0.5
    assert kept["failing"]["subject"] == "source=dock" and kept["failing"]["unit"] == "ratio"
    assert kept["failing"]["holding"] == 1 and kept["failing"]["error"] is None
    assert abs((as_utc(kept["failing"]["measured_at"]) - now).total_seconds()) < 1
    # and rules that hold nothing keep their value too: seconds of silence, pending age
    assert kept["quiet"]["holding"] == 0 and kept["quiet"]["unit"] == "s"
    assert 0 <= kept["quiet"]["value"] < 60 and kept["quiet"]["threshold"] == 3600
    assert kept["stuck"]["subject"] == "oldest_pending" and kept["stuck"]["value"] < 60
    # when evaluated again later, then each row is replaced, not added
    later = now + timedelta(minutes=20)
    ev.evaluate_once(later)
    again = alert_store.measures()
    assert set(again) == {"failing", "quiet", "stuck"}
    assert again["stuck"]["value"] >= 20 * 60 and again["stuck"]["holding"] == 1
    assert as_utc(again["stuck"]["measured_at"]) == as_utc(later)
