"""A store outage pauses processing and loses nothing: PostgreSQL is cut off for ~10 s (a
TCP proxy on loopback between filerelay and the server) while files are dropped; the watcher
keeps detecting and publishing, ingest tasks are deferred with backoff, and once the store is
back every file ends succeeded."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from filerelay.store import Store, make_engine
from tests.conftest import wait_for
from tests.e2e.harness import Relay, running
from tests.e2e.operator_helpers import private_queue
from tests.store.store_helpers import count_by_state
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

CONFIG = """\
sources:
  - {{name: drop, path: "{inbox}", silence: 300ms}}
routes:
  - name: keep
    steps: [{{copy: {{to: "{out}/{{relpath}}"}}}}]
"""
OUTAGE_S = 10.0


@pytest.fixture
def relay(tmp_path, redis_url, pg_url) -> Iterator[Relay]:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    direct = make_url(pg_url)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432).restore()
    relay = Relay(
        tmp_path,
        CONFIG.format(inbox=inbox, out=out),
        broker_url=redis_url,
        # DEBUG: the watcher's line per file (watcher.file_stable) shows it never waits
        extra_env={**private_queue(), "FILERELAY_LOG_LEVEL": "DEBUG"},
    )
    relay.db_url = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    relay.inbox, relay.out, relay.proxy = inbox, out, proxy  # type: ignore[attr-defined]
    relay.direct = Store(make_engine(pg_url))  # type: ignore[attr-defined]  # for the test's eyes
    with running(relay):
        yield relay
        proxy.cut()
        relay.direct.engine.dispose()  # type: ignore[attr-defined]


def test_files_dropped_while_the_store_is_unreachable_all_end_succeeded(relay):
    store: Store = relay.direct
    worker = relay.start_worker(concurrency=2)
    watcher = relay.start_watcher()
    (relay.inbox / "before.txt").write_text("before")
    wait_for(lambda: count_by_state(store) == {"succeeded": 1}, 60, what="first file")

    # when the store becomes unreachable and files keep arriving
    relay.proxy.cut()
    cut_at = time.monotonic()
    names = [f"during-{i}.txt" for i in range(10)]
    for name in names[:5]:
        (relay.inbox / name).write_text(name)
    worker.wait_log("task_deferred", 30)  # the ingests meet the outage and are deferred
    for name in names[5:]:
        (relay.inbox / name).write_text(name)
    # then the watcher still detects and hands every file to the broker: it never waits on
    # the store
    for name in names:
        watcher.wait_log(f"relpath={name}", 30)
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))  # the outage's length
    assert count_by_state(store) == {"succeeded": 1}  # nothing ran while it was down

    # when the store is back / then every file ends succeeded, none lost, none twice
    relay.proxy.restore()
    wait_for(lambda: count_by_state(store) == {"succeeded": 11}, 90, 0.5, what="11 succeeded")
    for name in names:
        assert (relay.out / name).read_text() == name
    assert worker.proc is not None and worker.proc.poll() is None
