"""Metrics of real processes, scraped over HTTP: a watcher, a prefork worker (its children's
figures summed by the parent), ``filerelay run``; no port, no listener; a port in use, one
clear error."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from filerelay.fleet.identity import default_agent_id
from tests.conftest import free_port, wait_for
from tests.e2e.harness import Proc, Relay, run_filerelay, running
from tests.metrics.helpers import group_pids, listening_ports, scrape, total
from tests.store.store_helpers import listed

pytestmark = pytest.mark.slow

CONFIG = """\
sources:
  - {{name: drop, path: "{inbox}", silence: 300ms}}
routes:
  - name: good
    when: {{glob: "*.ok"}}
    steps: [{{copy: {{to: "{out}/{{relpath}}"}}}}]
  - name: bad
    when: {{glob: "*.bad"}}
    steps: [{{copy: {{to: "{blocked}/{{relpath}}"}}, retry: {{max_attempts: 1}}}}]
"""


@pytest.fixture
def relay(tmp_path: Path, redis_url: str) -> Iterator[Relay]:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    out.mkdir()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, so nothing can be copied below it")
    relay = Relay(tmp_path, CONFIG.format(inbox=inbox, out=out, blocked=blocked), redis_url)
    relay.inbox = inbox  # type: ignore[attr-defined]
    with running(relay):
        yield relay


def start(relay: Relay, name: str, *args: str, ready: str) -> Proc:
    proc = relay._proc(name, *args).start()
    proc.wait_log(ready, 90)
    return proc


def drop(relay: Relay, names: list[str]) -> None:
    for name in names:
        (relay.inbox / name).write_text(name)  # type: ignore[attr-defined]


def finished(relay: Relay, succeeded: int, failed: int) -> bool:
    ok = len(listed(relay.store, state="succeeded"))
    bad = len(listed(relay.store, state="failed"))
    return ok == succeeded and bad == failed


def test_watcher_counts_every_file_it_emits(relay: Relay) -> None:
    # given a watcher serving metrics, and N files dropped
    port, n = free_port(), 7
    start(relay, "watcher", "watch", "--metrics-port", str(port), ready="watcher_ready")
    drop(relay, [f"f{i}.ok" for i in range(n)])

    # then the counters and the latency histogram of the source say N
    def emitted() -> bool:
        return total(scrape(port), "filerelay_watcher_events_emitted_total", source="drop") == n

    wait_for(emitted, 60, 0.2, what=f"{n} events emitted")
    samples = scrape(port)
    assert total(samples, "filerelay_watcher_files_detected_total", source="drop") == n
    assert total(samples, "filerelay_watcher_write_to_emit_seconds_count", source="drop") == n
    assert total(samples, "filerelay_watcher_rescans_total", reason="startup") == 1
    assert total(samples, "filerelay_watcher_pending_files", source="drop") == 0
    assert total(samples, "filerelay_broker_up") == 1

    # and, no worker running, the ingest tasks wait in this host's queue (read at most every
    # 2 s): one message per file, or fewer when a burst goes as ingest batches
    host = f"filerelay.host.{default_agent_id()}"

    def queued() -> bool:
        return 1 <= total(scrape(port), "filerelay_queue_depth", queue=host) <= n

    wait_for(queued, 30, 0.5, what="the queue depth")


def test_broker_down_events_spool_and_the_scrape_still_answers(relay: Relay) -> None:
    # given a watcher whose broker is not there
    relay.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    port, n = free_port(), 3
    start(relay, "watcher", "watch", "--metrics-port", str(port), ready="watcher_ready")
    drop(relay, [f"s{i}.ok" for i in range(n)])

    # then the events wait in the outbox, counted as spooled, and every scrape answers
    def spooled() -> bool:
        return total(scrape(port), "filerelay_watcher_events_spooled_total", source="drop") == n

    wait_for(spooled, 60, 0.2, what=f"{n} events spooled")
    for _ in range(3):
        started = time.monotonic()
        samples = scrape(port)
        assert time.monotonic() - started < 3.0
    assert total(samples, "filerelay_watcher_outbox_depth") == n
    assert total(samples, "filerelay_broker_up") == 0
    assert not [s for s in samples if s[0] == "filerelay_queue_depth"]


def test_prefork_worker_sums_its_children(relay: Relay) -> None:
    # given a watcher and a prefork worker with two children serving metrics
    port, good, bad = free_port(), 8, 3
    worker = start(
        relay,
        "worker",
        "worker",
        "-C",
        "2",
        "-P",
        "prefork",
        "--metrics-port",
        str(port),
        ready="ready",
    )
    relay.start_watcher()
    # when M files go through the good route and K through the failing one
    drop(relay, [f"g{i}.ok" for i in range(good)] + [f"b{i}.bad" for i in range(bad)])
    wait_for(lambda: finished(relay, good, bad), 120, 0.25, what="every event finished")

    # then the parent's scrape sums the children's figures
    def counted() -> bool:
        samples = scrape(port)
        return total(samples, "filerelay_event_end_to_end_seconds_count") == good + bad

    wait_for(counted, 30, 0.2, what="end-to-end latency counted")
    samples = scrape(port)
    runs = "filerelay_step_runs_total"
    assert total(samples, runs, route="good", action="copy", outcome="succeeded") == good
    assert total(samples, runs, route="good") == good
    assert total(samples, runs, route="bad", action="copy", outcome="failed") == bad
    assert total(samples, "filerelay_event_end_to_end_seconds_count", state="failed") == bad
    assert total(samples, "filerelay_step_duration_seconds_count", action="copy") == good + bad
    assert total(samples, "filerelay_step_attempts_count", action="copy") == good + bad
    assert total(samples, "filerelay_worker_tasks_running") == 0
    assert total(samples, "filerelay_broker_up") == 1
    # and only the parent listens: the children closed their copy of the socket
    children = [pid for pid in group_pids(worker.proc.pid) if pid != worker.proc.pid]
    assert len(children) >= 2
    assert listening_ports(children) == set()
    assert listening_ports([worker.proc.pid]) == {port}


def test_run_serves_watcher_and_worker_on_one_port(relay: Relay) -> None:
    # given `filerelay run` with a metrics port
    port, n = free_port(), 5
    start(relay, "run", "run", "-C", "2", "--metrics-port", str(port), ready="watcher_ready")
    drop(relay, [f"r{i}.ok" for i in range(n)])
    wait_for(lambda: finished(relay, n, 0), 120, 0.25, what="every event finished")

    # then one scrape shows the watcher's and the worker child's figures
    def counted() -> bool:
        samples = scrape(port)
        return total(samples, "filerelay_step_runs_total", outcome="succeeded") == n

    wait_for(counted, 30, 0.2, what="step runs counted")
    samples = scrape(port)
    assert total(samples, "filerelay_watcher_events_emitted_total", source="drop") == n
    assert total(samples, "filerelay_event_end_to_end_seconds_count", state="succeeded") == n


def test_no_port_no_listener(relay: Relay) -> None:
    # given a watcher and a prefork worker started without a metrics port
    worker = relay.start_worker(concurrency=2)
    watcher = relay.start_watcher()
    drop(relay, ["x.ok"])
    wait_for(lambda: finished(relay, 1, 0), 90, 0.25, what="the event finished")
    # then none of their processes listens on any port
    for proc in (worker, watcher):
        pids = group_pids(proc.proc.pid)
        assert pids
        assert listening_ports(pids) == set()


@pytest.mark.parametrize("command", ["watch", "worker", "run"])
def test_port_in_use_is_one_clear_error(relay: Relay, command: str) -> None:
    # given a port some other program listens on
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        # when a filerelay process is told to serve metrics there
        args = (command, "--config", str(relay.config), "--metrics-port", str(port))
        done = run_filerelay(args, relay.root, relay.env, timeout_s=90)
    # then it exits 2 with one line naming the address, and no traceback
    assert done.returncode == 2, done.stderr
    assert f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
