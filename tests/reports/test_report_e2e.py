"""Issue 17 end to end: a watcher and a worker ship files to a real S3 server (moto) and to a
webhook that refuses them (pytest-httpserver); ``filerelay report`` then says exactly what
happened — counts, failure rate, size buckets, percentiles, top error, S3 capacity — and its
HTML page renders in Chromium (a screenshot is written next to the test's temp dir)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from filerelay.store.rollups import latency_bucket, size_bucket
from filerelay.store.schema import file_events, pipelines, steps
from tests.conftest import stop_process, wait_for
from tests.e2e.harness import Relay, run_filerelay, running
from tests.store.store_helpers import count_by_state

pytestmark = pytest.mark.slow

CONFIG = """\
connections:
  s3: {{type: s3, endpoint_url: "{endpoint}", access_key_id: testing,
        secret_access_key: testing, path_style: true}}
sources:
  - {{name: drop, path: "{inbox}", silence: 300ms}}
routes:
  - name: ship
    when: {{glob: "*.bin"}}
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{source}}/{{relpath}}"}}
        name: upload
  - name: tell
    when: {{glob: "*.txt"}}
    steps:
      - webhook: {{url: "{hook}"}}
        name: hook
slos:
  - {{name: ship-ok, route: ship, objective: 0.9}}
reports:
  pricing: {{storage_gb_month: {{STANDARD: 0.023, STANDARD_IA: 0.0125}}}}
"""

SIZES = [0, 100, 3_000, 3_500, 70_000, 300_000]  # .bin files
TXT = 3  # .txt files, refused by the webhook


def _nearest_rank(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def test_report_counts_what_the_pipelines_did(
    tmp_path: Path, redis_url: str, moto_endpoint: str, bucket: str, httpserver: HTTPServer
) -> None:
    # given a webhook that refuses every file (a permanent 400) and a deployment
    httpserver.expect_request("/hook", method="POST").respond_with_data("no", status=400)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    text = CONFIG.format(
        endpoint=moto_endpoint, inbox=inbox, bucket=bucket, hook=httpserver.url_for("/hook")
    )
    with running(Relay(tmp_path, text, broker_url=redis_url)) as relay:
        relay.start_worker()
        relay.start_watcher()
        # when six files are uploaded and three refused
        for i, size in enumerate(SIZES):
            (inbox / f"f{i}.bin").write_bytes(b"x" * size)
        for i in range(TXT):
            (inbox / f"n{i}.txt").write_text("note")
        total = len(SIZES) + TXT

        def finished() -> bool:
            states = count_by_state(relay.store)
            return sum(states.values()) == total and not {"queued", "processing"} & set(states)

        wait_for(finished, 90, what="every file finished")
        assert count_by_state(relay.store) == {"succeeded": len(SIZES), "failed": TXT}
        truth = _truth(relay)
        # then the report's figures are the store's
        cfg = ("--config", str(relay.config))
        out = run_filerelay(
            ("report", "--period", "day", "--format", "json", *cfg), tmp_path, relay.env
        )
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        _check(report, truth)
        # and the route filter narrows it to the route's pipelines
        out = run_filerelay(
            ("report", "--period", "day", "--route", "ship", "--format", "json"),
            tmp_path,
            relay.env,
        )
        ship = json.loads(out.stdout)["summary"]
        assert ship["files"]["current"] == len(SIZES) and ship["failed"]["current"] == 0
        # and the HTML page is one file with no remote asset that Chromium renders
        html = tmp_path / "report.html"
        out = run_filerelay(
            ("report", "--format", "html", "-o", str(html), "--config", str(relay.config)),
            tmp_path, relay.env,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        page = html.read_text()
        assert "<svg" in page and "http://" not in page.replace('xmlns="http://www.w3.org', "")
        _screenshot(html, tmp_path / "report.png")


def _truth(relay: Relay) -> dict[str, object]:
    """What the store recorded, computed here without the rollups."""
    with relay.store.engine.connect() as conn:
        events = conn.execute(select(file_events)).mappings().all()
        runs = conn.execute(select(pipelines)).mappings().all()
        durations = conn.execute(
            select(steps.c.duration_ms).where(steps.c.action == "s3")
        ).scalars().all()  # fmt: skip
    detected = {e["id"]: e["detected_at"] for e in events}
    e2e = [
        (e["updated_at"] - e["detected_at"]).total_seconds()
        for e in events
        if e["state"] == "succeeded"
    ]
    ship = [
        (r["finished_at"] - detected[r["event_id"]]).total_seconds()
        for r in runs
        if r["route"] == "ship"
    ]
    return {
        "e2e": e2e,
        "ship": ship,
        "s3": [d / 1000 for d in durations],
        "sizes": [e["size"] for e in events],
    }


def _check(report: dict, truth: dict) -> None:
    summary = report["summary"]
    total = len(SIZES) + TXT
    assert summary["files"]["current"] == total
    assert summary["failed"]["current"] == TXT
    assert summary["failure_rate"]["current"] == pytest.approx(TXT / total)
    assert summary["bytes"]["current"] == sum(SIZES) + 4 * TXT
    buckets = {s["below_bytes"]: s["files"] for s in report["sizes"]}
    expected: dict[int, int] = {}
    for size in truth["sizes"]:
        expected[int(size_bucket(size))] = expected.get(int(size_bucket(size)), 0) + 1
    assert buckets == expected
    lat = report["latency"]
    for pct in (50, 95, 99):
        exact = float(latency_bucket(_nearest_rank(truth["e2e"], pct)))
        assert lat["end_to_end"][f"p{pct}"] == exact
        assert lat["actions"]["s3"][f"p{pct}"] == float(
            latency_bucket(_nearest_rank(truth["s3"], pct))
        )
    ship = next(r for r in report["by_route"] if r["name"] == "ship")
    assert ship["p95"] == float(latency_bucket(_nearest_rank(truth["ship"], 95)))
    tell = next(r for r in report["by_route"] if r["name"] == "tell")
    assert (tell["files"], tell["failed"], tell["failure_rate"]) == (TXT, TXT, 1.0)
    [error] = report["errors"]
    assert error["count"] == TXT and "400" in error["error"]
    [target] = report["capacity"]["targets"]
    assert target["objects"] == len(SIZES) and target["bytes"] == sum(SIZES)
    [slo] = report["slos"]
    assert (slo["good"], slo["total"], slo["met"]) == (len(SIZES), len(SIZES), True)


def _screenshot(html: Path, png: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        from tests.conftest import missing_service

        missing_service("chromium (apt-get install chromium fonts-noto-cjk)")
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,2000",
            f"--screenshot={png}", html.as_uri()]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: proc.poll() is not None, 60, what="chromium's screenshot")
    finally:
        stop_process(proc)
    assert png.stat().st_size > 10_000
