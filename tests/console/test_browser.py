"""The console in Debian's Chromium against a real ``filerelay run`` (watcher, worker, API):
sign-in, the dashboard's charts, live rows, retry, upload, pause/resume, config validation,
roles, the Chinese UI, and a screenshot of every page at 1280x800 and at a phone's width."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from filerelay.ops.breakers import limit_store
from filerelay.store.db import utcnow
from filerelay.store.schema import steps
from tests.conftest import wait_for
from tests.console.deployment import SCREENSHOTS, Console, deployment, launch_options
from tests.store.store_helpers import admit, make_event, plan, step

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1280, "height": 800}
#: a flat line (all zeros) has no height, so charts are waited for as attached, not visible
THROUGHPUT = "[data-chart=throughput] polyline[data-series=succeeded]"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with deployment(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(console: Console) -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(**launch_options())
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser: Any, console: Console, token: str, *, locale: str = "en-US") -> Any:
    """A fresh browser context signed in through the ``?token=`` address."""
    context = browser.new_context(viewport=DESKTOP, locale=locale, timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{console.base}/?token={token}")
    page.wait_for_selector("#nav a[href='/console/files']")
    return page


@pytest.fixture
def admin(browser: Any, console: Console) -> Iterator[Any]:
    page = open_page(browser, console, console.admin_token)
    yield page
    page.context.close()


@pytest.fixture
def viewer(browser: Any, console: Console) -> Iterator[Any]:
    page = open_page(browser, console, console.viewer_token)
    yield page
    page.context.close()


def drop(folder: Path, name: str, text: str = "hello\n") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def event_state(page: Any, name: str) -> str | None:
    """The newest event's state for a file name, read through the API as the page would."""
    body = page.evaluate(
        "async (q) => (await (await fetch(`/api/v1/events?q=${q}&limit=1`)).json())", name
    )
    return body["items"][0]["state"] if body["items"] else None


def open_file(page: Any, console: Console, name: str) -> None:
    page.goto(f"{console.base}/console/files?q={name}")
    page.locator("a.path", has_text=name).first.click()
    page.wait_for_selector(".pipeline")


def test_the_token_address_becomes_a_session_cookie(browser: Any, console: Console) -> None:
    # Given an address like the one `filerelay run` prints, when the browser opens it
    page = open_page(browser, console, console.admin_token)
    try:
        # Then the token has left the address bar and an HttpOnly SameSite=Strict cookie holds
        # the session, which survives a reload
        assert "token" not in page.url
        cookies = page.context.cookies()
        assert cookies and all(c["httpOnly"] and c["sameSite"] == "Strict" for c in cookies)
        page.reload()
        page.wait_for_selector("#nav a[href='/console/files']")
        assert "admin-1" in page.locator("#who").inner_text()
        # When the user signs out and tries a wrong token, then the form says it was refused
        page.locator("#who button").click()
        page.fill("input[name=token]", "not-a-token")
        page.click("form.login button[type=submit]")
        page.wait_for_selector("form.login .error:not(:empty)")
    finally:
        page.context.close()


def test_the_dashboard_draws_its_charts_with_data(admin: Any, console: Console) -> None:
    # Given files that went through
    for i in range(3):
        drop(console.inbox, f"dash-{i}.txt")
    wait_for(lambda: event_state(admin, "dash-2.txt") == "succeeded", 30, what="dash files done")
    # When the dashboard opens
    admin.goto(f"{console.base}/console/")
    admin.wait_for_selector(THROUGHPUT, state="attached")
    # Then the tiles have numbers and the throughput line rises above its baseline
    assert admin.locator("[data-tile=success_rate] .tile-value").inner_text() != "—"
    ys = admin.eval_on_selector(
        "[data-chart=throughput] polyline[data-series=succeeded]",
        "el => el.getAttribute('points').split(' ').map(p => Number(p.split(',')[1]))",
    )
    assert len(ys) > 1 and min(ys) < max(ys)
    # And the window switch redraws for 24 h
    admin.click("button[data-window='24h']")
    admin.wait_for_selector("button[data-window='24h'][aria-pressed=true]")
    admin.wait_for_selector(THROUGHPUT, state="attached")


def test_a_dropped_file_appears_on_the_files_page_without_a_reload(
    admin: Any, console: Console
) -> None:
    # Given the Files page, shown and connected to the live stream
    admin.goto(f"{console.base}/console/files")
    admin.wait_for_selector(".live.on")
    # When a file is written into the watched folder
    started = time.monotonic()
    drop(console.inbox, "live-row.txt")
    # Then its row appears within 3 s, with no navigation
    admin.locator("a.path", has_text="live-row.txt").wait_for(timeout=3_000)
    assert time.monotonic() - started < 3.0


def test_retry_makes_a_failed_file_succeed_once_the_receiver_is_fixed(
    admin: Any, console: Console
) -> None:
    # Given a file the receiver refuses
    console.receiver.broken = True
    drop(console.inbox, "fail-retry.txt")
    wait_for(lambda: event_state(admin, "fail-retry.txt") == "failed", 30, what="failed")
    open_file(admin, console, "fail-retry.txt")
    # When the receiver is fixed and the operator presses retry
    console.receiver.broken = False
    admin.click("button[data-action=retry]")
    # Then the file is delivered and its page shows it succeeded
    wait_for(lambda: event_state(admin, "fail-retry.txt") == "succeeded", 30, what="retried")
    admin.reload()
    admin.locator(".facts .state-succeeded").wait_for()
    assert console.receiver.got("fail-retry.txt")


def test_a_file_uploaded_through_the_page_is_delivered(
    admin: Any, console: Console, tmp_path
) -> None:
    # Given a file on the user's machine
    local = drop(tmp_path, "uploaded-by-page.txt", "from the browser\n")
    # When it is chosen with the Sources page's file picker
    admin.goto(f"{console.base}/console/sources")
    admin.set_input_files("#upload-inbox", str(local))
    # Then the upload completes and the receiver gets the file
    admin.locator(".uploads li", has_text="uploaded-by-page.txt").locator(
        "progress[value='1']"
    ).wait_for()
    wait_for(lambda: console.receiver.got("uploaded-by-page.txt"), 30, what="upload delivered")


def test_pause_holds_files_and_resume_releases_them(admin: Any, console: Console) -> None:
    # Given the `held` source paused from the Sources page
    admin.goto(f"{console.base}/console/sources")
    card = admin.locator("[data-source=held]")
    card.locator("button[data-action=pause]").click()
    card.locator("button[data-action=resume]").wait_for()
    console.proc.wait_log("watcher.sources_held", 15)
    # When a file is written there, then it waits in the watcher's outbox, unpublished
    drop(console.held, "held-file.txt")
    wait_for(lambda: console.outbox_count("held") > 0, 15, what="held in the outbox")
    assert event_state(admin, "held-file.txt") is None
    assert "admin-1" in card.inner_text()  # who flipped the switch
    # When resumed, then the file goes through
    card.locator("button[data-action=resume]").click()
    wait_for(lambda: event_state(admin, "held-file.txt") == "succeeded", 30, what="released")


def test_an_invalid_config_shows_its_error_at_the_line_and_changes_nothing(
    admin: Any, console: Console
) -> None:
    # Given the Config page with the running YAML
    admin.goto(f"{console.base}/console/config")
    area = admin.locator("#config-text")
    running = area.input_value()
    # When a line is broken in the editor
    lines = running.split("\n")
    lines.insert(2, "    silence: not-a-duration")
    area.fill("\n".join(lines))
    # Then the error is shown at its line, marked in the gutter, and push is not possible
    admin.locator(".problems button[data-line]").first.wait_for()
    bad_lines = admin.eval_on_selector_all(".gutter .ln.bad", "els => els.map(e => e.dataset.line)")
    assert bad_lines
    assert admin.locator("button[data-action=push]").is_disabled()
    # And the running configuration is unchanged
    admin.goto(f"{console.base}/console/config")
    assert admin.locator("#config-text").input_value() == running


def test_a_viewer_sees_no_retry_button_and_a_forged_post_is_refused(
    viewer: Any, admin: Any, console: Console
) -> None:
    # Given a failed file
    console.receiver.broken = True
    drop(console.inbox, "fail-viewer.txt")
    wait_for(lambda: event_state(admin, "fail-viewer.txt") == "failed", 30, what="failed")
    # When a viewer opens its page, then there is no retry button, and no Config or Audit page
    open_file(viewer, console, "fail-viewer.txt")
    assert viewer.locator("button[data-action=retry]").count() == 0
    assert viewer.locator("#nav a[href='/console/audit']").count() == 0
    # When the viewer forges the POST (with the session's CSRF token), then the API says 403
    event_id = viewer.url.rsplit("/", 1)[1]
    status = viewer.evaluate(
        """async (id) => (await fetch(`/api/v1/events/${id}/retry`, {method: 'POST',
             headers: {'X-CSRF-Token': localStorage.getItem('filerelay.csrf') || ''}})).status""",
        event_id,
    )
    assert status == 403
    # And a cookie request without the CSRF header is refused too, even for an admin
    status = admin.evaluate(
        "async (id) => (await fetch(`/api/v1/events/${id}/retry`, {method: 'POST'})).status",
        event_id,
    )
    assert status == 403


def test_the_chinese_ui_renders(browser: Any, console: Console) -> None:
    # Given a browser whose language is Chinese
    page = open_page(browser, console, console.admin_token, locale="zh-CN")
    try:
        # Then the navigation and the page are in Chinese, and the switch goes back to English
        assert page.locator("#nav").inner_text().split()[0] == "仪表盘"
        page.goto(f"{console.base}/console/files")
        page.wait_for_selector("table.grid")
        assert "检测时间" in page.locator("thead").inner_text()
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "files-zh-CN.png"))
        page.select_option("#lang", "en")
        page.wait_for_selector("#nav a:has-text('Dashboard')")
    finally:
        page.context.close()


#: page → what shows that it has loaded its data
PAGES = {
    "": "[data-chart=throughput] polyline[data-series=succeeded]",
    "files": "table.grid tbody tr",
    "sources": ".tree li, .tree p",
    "agents": "table.grid tbody tr",
    "config": ".gutter .ln",
    "alerts": "main .card p.muted, main .card pre, main .card .scroll",
    "logs": ".live",
    "audit": "table.grid tbody tr",
}


def test_a_screenshot_of_every_page(admin: Any, console: Console) -> None:
    # Given some history: a file delivered and one that failed
    console.receiver.broken = True
    drop(console.inbox, "shot-ok.txt")
    drop(console.inbox, "fail-shot.txt")
    wait_for(lambda: event_state(admin, "fail-shot.txt") == "failed", 30, what="failed")
    SCREENSHOTS.mkdir(exist_ok=True)
    # When every page is opened at 1280x800, then none shows an error, and each is saved
    for name, loaded in PAGES.items():
        admin.goto(f"{console.base}/console/{name}")
        admin.wait_for_selector(loaded, state="attached")
        assert admin.locator("main .error[role=alert]").count() == 0, name
        admin.screenshot(path=str(SCREENSHOTS / f"{name or 'dashboard'}.png"), full_page=True)
    open_file(admin, console, "fail-shot.txt")
    admin.screenshot(path=str(SCREENSHOTS / "file.png"), full_page=True)
    # And at a phone's width the dashboard and the files list fit the screen
    admin.set_viewport_size(PHONE)
    for name in ["", "files"]:
        admin.goto(f"{console.base}/console/{name}")
        admin.wait_for_selector(PAGES[name], state="attached")
        width = admin.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name or 'dashboard'} is {width}px wide"
        admin.screenshot(path=str(SCREENSHOTS / f"phone-{name or 'dashboard'}.png"), full_page=True)


def test_the_reports_and_fleet_pages_show_data_and_close_a_breaker(
    admin: Any, console: Console
) -> None:
    # Given files delivered today, an open breaker and a config version on every agent
    drop(console.inbox, "report-one.txt")
    wait_for(lambda: event_state(admin, "report-one.txt") == "succeeded", 30, what="delivered")
    limits = limit_store(console.relay.store)
    for _ in range(2):
        limits.breaker_failure("shot-hook", "test", utcnow(), 2, 600.0, "connection refused")
    auth = {"Authorization": f"Bearer {console.admin_token}"}
    pushed = httpx.post(
        f"{console.base}/api/v1/fleet/push",
        json={"text": console.relay.config_text, "note": "browser test"},
        headers=auth,
        timeout=10,
    )
    assert pushed.status_code == 201, pushed.text
    SCREENSHOTS.mkdir(exist_ok=True)
    # When the reports page is opened, then its tiles count the files, the daily chart is
    # drawn, and the HTML report's link keeps the period
    admin.goto(f"{console.base}/console/reports")
    admin.wait_for_selector("[data-chart=daily] polyline[data-series=files]", state="attached")
    assert admin.locator("[data-tile=files] .tile-value").inner_text() not in ("0", "—")
    assert "period=week" in (admin.get_attribute("[data-report-html]", "href") or "")
    assert admin.locator("main .error[role=alert]").count() == 0
    admin.screenshot(path=str(SCREENSHOTS / "reports.png"), full_page=False)
    # When the fleet page is opened, then it shows the version and the open breaker
    admin.goto(f"{console.base}/console/fleet")
    admin.wait_for_selector("[data-breaker=shot-hook] .breaker-open")
    assert admin.locator("[data-section=versions] tbody tr").count() >= 1
    admin.screenshot(path=str(SCREENSHOTS / "fleet.png"), full_page=False)
    # And when the breaker is closed from the page, then it shows closed
    admin.click("[data-close=shot-hook]")
    admin.wait_for_selector("[data-breaker=shot-hook] .breaker-closed")


QUEUE_TREND = "[data-chart=queue_depth] polyline[data-series=total]"
MEASURE = "[data-rule=failing] [data-measure=value]"


def _reload_until(page: Any, url: str, selector: str, what: str) -> None:
    """Open ``url`` again until ``selector`` is there (data a background loop writes)."""

    def shown() -> bool:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        return page.locator(selector).count() > 0

    wait_for(shown, 60, interval_s=1.0, what=what)


def test_the_queue_depth_trend_and_the_alert_measures_render(
    browser: Any, console: Console
) -> None:
    # Given files that went through and one that failed, so the rules have something to measure
    console.receiver.broken = True
    drop(console.inbox, "measure-ok.txt")
    drop(console.inbox, "fail-measure.txt")
    SCREENSHOTS.mkdir(exist_ok=True)
    for locale, suffix in (("en-US", ""), ("zh-CN", "-zh-CN")):
        page = open_page(browser, console, console.admin_token, locale=locale)
        try:
            # (called at once: the loop variable cannot change under it)
            done = lambda: event_state(page, "fail-measure.txt") == "failed"  # noqa: B023, E731
            wait_for(done, 30, what="fail-measure.txt failed")
            # When the dashboard opens, then the queue-depth trend (sampled by the reconciler
            # once a minute) is drawn beside the throughput chart
            _reload_until(page, f"{console.base}/console/", QUEUE_TREND, "queue-depth samples")
            caption = page.locator("[data-chart=queue_depth] figcaption").inner_text()
            assert ("Queue depth" in caption) if not suffix else ("队列深度" in caption)
            page.screenshot(path=str(SCREENSHOTS / f"dashboard-queue{suffix}.png"), full_page=True)
            # And the Alerts page shows each rule's last measure against its threshold
            _reload_until(page, f"{console.base}/console/alerts", MEASURE, "a measure")
            line = page.locator(MEASURE).inner_text()
            assert "50" in line and ("threshold" in line if not suffix else "阈值" in line)
            deep = page.locator("[data-rule=deep-queue] [data-measure]").inner_text()
            assert "500" in deep
            page.screenshot(path=str(SCREENSHOTS / f"alerts-measures{suffix}.png"), full_page=True)
        finally:
            page.context.close()


def test_the_file_page_shows_step_outcomes_live(admin: Any, console: Console) -> None:
    # Given a file whose step a stand-in worker holds (claimed, running)
    store = console.relay.store
    event = make_event(f"live-{uuid.uuid4().hex[:6]}.txt", source="inbox")
    (pid,) = admit(store, event, plan("deliver", step(0, "hook")))
    sid = store.steps_of(pid)[0].id
    assert store.claim_step(sid, "stand-in", 600) is not None
    row = f'li[data-step-id="{sid}"]'
    # When its page is open
    admin.goto(f"{console.base}/console/files/{event.event_id}")
    admin.wait_for_selector(f"{row}.state-running")
    # And the attempt fails and is put back for a retry in ten minutes
    later = utcnow() + timedelta(minutes=10)
    assert store.retry_step(sid, "stand-in", "HTTP 503 from the receiver", later)
    # Then the step's row says so, with the error, without a reload
    admin.wait_for_selector(f"{row}.state-retrying")
    assert "HTTP 503 from the receiver" in admin.locator(f"{row} .step-error").inner_text()
    # And when the next attempt succeeds, the row turns succeeded
    assert store.claim_step(sid, "stand-in", 600) is None  # not due yet
    with store.engine.begin() as conn:  # due now, as the backoff ran out
        conn.execute(update(steps).where(steps.c.id == sid).values(next_attempt_at=utcnow()))
    claim = store.claim_step(sid, "stand-in", 600)
    assert claim is not None and store.succeed_step(claim, "stand-in", {"status": 200})
    admin.wait_for_selector(f"{row}.state-succeeded")
    assert "attempt 2 of 3" in admin.locator(f"{row} .step-attempts").inner_text()
    assert admin.locator(f"{row} .step-next").is_hidden()
    # and the pipeline's end follows (the timeline read again)
    admin.wait_for_selector(".pipeline h2 .state-succeeded")
    SCREENSHOTS.mkdir(exist_ok=True)
    admin.screenshot(path=str(SCREENSHOTS / "file-live.png"), full_page=True)
