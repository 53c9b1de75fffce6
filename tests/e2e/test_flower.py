"""``filerelay flower`` and ``filerelay submit`` on real parts: a worker on Redis, Flower's HTTP
API behind basic auth, a file submitted again although it is unchanged."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, port_open, wait_for
from tests.e2e.harness import Relay, running
from tests.e2e.operator_helpers import cli, extra_proc, private_queue
from tests.store.store_helpers import count_by_state

pytestmark = pytest.mark.slow

CONFIG = """\
sources:
  - {{name: drop, path: "{inbox}", silence: 300ms}}
routes:
  - name: keep
    steps: [{{copy: {{to: "{out}/{{relpath}}", on_conflict: overwrite}}}}]
"""
AUTH = ("ops", "s3cret")


@pytest.fixture
def relay(tmp_path, redis_url) -> Iterator[Relay]:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    relay = Relay(
        tmp_path,
        CONFIG.format(inbox=inbox, out=out),
        broker_url=redis_url,
        extra_env=private_queue(),
    )
    relay.inbox, relay.out = inbox, out  # type: ignore[attr-defined]
    with running(relay):
        yield relay


def test_submit_reruns_an_unchanged_file_and_flower_lists_its_tasks(relay):
    # given a worker, Flower with basic auth, and a file processed once
    relay.start_worker(concurrency=1)
    port = free_port()
    env = {"FILERELAY_FLOWER_BASIC_AUTH": ":".join(AUTH)}
    flower = extra_proc(relay, "flower", "flower", "--port", str(port), env=env)
    wait_for(lambda: port_open("127.0.0.1", port), 60, what="flower port")
    assert "s3cret" not in " ".join(flower.argv)  # the secret is not on the command line
    relay.start_watcher()
    target = relay.inbox / "report.csv"
    target.write_text("a,b\n")
    wait_for(lambda: count_by_state(relay.store) == {"succeeded": 1}, 60, what="first run")

    def tasks() -> dict:
        reply = requests.get(f"http://127.0.0.1:{port}/api/tasks", auth=AUTH, timeout=5)
        reply.raise_for_status()
        return reply.json()

    # when the unchanged file is submitted (again, until Flower's event stream has it)
    def submitted_and_listed() -> list[dict]:
        result = cli(relay, "submit", str(target), "-c", str(relay.config))
        assert result.returncode == 0, result.stderr
        return [t for t in tasks().values() if t["name"] == "filerelay.ingest"]

    ingests = wait_for(submitted_and_listed, 60, 1.0, what="an ingest task in Flower")
    # then Flower lists the task by name, labelled with event id, source and path only
    args = ingests[0]["args"]
    assert "event_id=" in args and "source=drop" in args and str(target) in args
    assert "dedup_key" not in args
    # and without credentials the API refuses
    assert requests.get(f"http://127.0.0.1:{port}/api/tasks", timeout=5).status_code == 401
    # and every submission became its own succeeded event, not a duplicate
    wait_for(lambda: set(count_by_state(relay.store)) == {"succeeded"}, 60, what="all succeeded")
    assert (relay.out / "report.csv").read_text() == "a,b\n"
    versions = relay.store.events_by_path(str(target))
    assert len(versions) >= 2 and versions[0].stable_signal != "manual"
    assert all(v.stable_signal == "manual" for v in versions[1:])


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (Linux /proc/net/tcp, IPv4)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, _remote, state = line.split()[1:4]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_flower_without_credentials_warns_and_listens_on_loopback_only(relay):
    # given no FILERELAY_FLOWER_BASIC_AUTH and JSON logs
    port = free_port()
    env = {"FILERELAY_FLOWER_BASIC_AUTH": "", "FILERELAY_LOG_FORMAT": "json"}
    # when Flower is asked to listen on every address
    flower = extra_proc(
        relay, "flower", "flower", "--port", str(port), "--address", "0.0.0.0", env=env
    )
    wait_for(lambda: port_open("127.0.0.1", port), 60, what="flower port")
    # then it listens on the loopback address only, and says why in JSON lines
    assert listening_addresses(port) == {"127.0.0.1"}
    flower.wait_log("flower_bound_to_loopback", 30)
    lines = [json.loads(line) for line in flower.log().splitlines() if line.strip()]
    events = {line["event"] for line in lines}
    assert {"flower_without_credentials", "flower_bound_to_loopback"} <= events
