"""Operator tooling on real parts: watcher and worker processes, Redis, a moto S3 server.

A route failing on a missing bucket → ``events list --state failed`` shows why → the config
is fixed → ``reprocess --state failed`` → the files arrive, and ``events show`` (by id and by
path) holds both runs. ``status`` sees the live worker and an agent killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator

import pytest

from filerelay.fleet.identity import default_agent_id, host_queue
from tests.conftest import wait_for
from tests.e2e.harness import Relay, running
from tests.e2e.operator_helpers import cli, cli_json, extra_proc, private_queue
from tests.e2e.test_core_pipeline import CONFIG, objects
from tests.store.store_helpers import count_by_state

pytestmark = pytest.mark.slow


@pytest.fixture
def relay(tmp_path, redis_url, moto_endpoint, bucket) -> Iterator[Relay]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    broken = CONFIG.format(endpoint=moto_endpoint, inbox=inbox, bucket="no-such-bucket-here")
    relay = Relay(
        tmp_path,
        broken,
        broker_url=redis_url,
        extra_env={"FILERELAY_HEARTBEAT_S": "1", **private_queue()},
    )
    relay.inbox = inbox  # type: ignore[attr-defined]
    relay.bucket = bucket  # type: ignore[attr-defined]
    relay.fixed = CONFIG.format(endpoint=moto_endpoint, inbox=inbox, bucket=bucket)  # type: ignore[attr-defined]
    with running(relay):
        yield relay


def rewrite(relay: Relay, text: str) -> None:
    relay.config.write_text(text)
    st = relay.config.stat()
    os.utime(relay.config, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_failed_files_are_listed_reprocessed_after_a_fix_and_keep_both_runs(relay, s3_client):
    # given a worker and a watcher whose only route uploads to a bucket that does not exist
    worker = relay.start_worker(concurrency=1)
    relay.start_watcher()
    names = [f"f{i}.bin" for i in range(3)]
    for name in names:
        (relay.inbox / name).write_bytes(name.encode() * 100)
    wait_for(lambda: count_by_state(relay.store).get("failed") == 3, 60, what="3 failed")

    # when the operator lists the failed events / then they are there with the reason
    listed = cli_json(relay, "events", "list", "--state", "failed", "--since", "1h")
    assert sorted(r["relpath"] for r in listed["events"]) == names
    assert all(
        "NoSuchBucket" in r["reason"] and r["routes"] == ["upload"] for r in listed["events"]
    )

    # when the config is fixed and the failed events are reprocessed
    mark = len(worker.log())
    rewrite(relay, relay.fixed)
    worker.wait_log("config_reloaded", 30, after=mark)
    result = cli(relay, "reprocess", "--state", "failed")
    assert result.returncode == 0 and "queued 3 event(s)" in result.stdout, result.stderr

    # then every file arrives and succeeds
    wait_for(lambda: count_by_state(relay.store) == {"succeeded": 3}, 60, what="3 succeeded")
    assert set(objects(s3_client, relay.bucket)) == {f"drop/{n}" for n in names}
    # and the history of each shows both runs: the failure and the success
    event_id = listed["events"][0]["id"]
    (shown,) = cli_json(relay, "events", "show", event_id)["events"]
    runs = [(p["run"], p["status"]) for p in shown["pipelines"]]
    assert runs == [(1, "failed"), (2, "succeeded")]
    assert "NoSuchBucket" in shown["pipelines"][0]["steps"][0]["last_error"]
    assert shown["pipelines"][1]["steps"][0]["result"]["bucket"] == relay.bucket
    # and the same timeline comes by path, in human form too
    by_path = cli_json(relay, "events", "show", shown["path"])["events"]
    assert [e["id"] for e in by_path] == [event_id]
    human = cli(relay, "events", "show", shown["path"])
    assert (
        "run 1 route upload: failed" in human.stdout
        and "run 2 route upload: succeeded" in human.stdout
    )


def test_status_reports_the_live_worker_and_an_agent_killed_with_sigkill(relay):
    # given a worker, and a second one that is killed with SIGKILL once registered
    live_name = f"live-{os.getpid()}@%h"
    live = extra_proc(
        relay, "worker", "worker", "-c", str(relay.config), "-C", "1", "-n", live_name
    )
    live.wait_log("worker_ready", 60)  # registered as an agent before it is ready
    doomed = extra_proc(
        relay, "worker2", "worker", "-c", str(relay.config), "-C", "1", "-n", "w2@%h"
    )
    doomed.wait_log("worker_ready", 60)

    def agents() -> dict[int, str]:
        return {a["pid"]: a["state"] for a in cli_json(relay, "status")["agents"]}

    assert doomed.proc is not None
    wait_for(lambda: agents().get(doomed.proc.pid) == "online", 30, what="worker2 online")
    os.killpg(doomed.proc.pid, signal.SIGKILL)
    doomed.proc.wait(10)
    # when 3 heartbeats (1 s each) pass / then status shows it offline, the first one online
    wait_for(lambda: agents().get(doomed.proc.pid) == "offline", 30, what="worker2 offline")
    status = cli_json(relay, "status")
    states = sorted(a["state"] for a in status["agents"] if a["role"] == "worker")
    assert states == ["offline", "online"]
    assert [w for w in status["workers"] if w.startswith("live-")] == [
        live_name.replace("%h", socket.gethostname())
    ]
    queue = relay.env["FILERELAY_QUEUE"]  # the shared queue, and this host's
    assert status["queues"] == {queue: 0, host_queue(queue, default_agent_id()): 0}
    human = cli(relay, "status").stdout
    assert "workers online: " in human and "offline" in human
    # and the health probe finds the worker's heartbeat, and the bucket that does not exist
    health = cli(relay, "health", "--role", "worker", "-c", str(relay.config))
    assert health.returncode == 1, health.stdout
    assert health.stdout.startswith("unhealthy: s3 s3/no-such-bucket-here: ")
    rewrite(relay, relay.fixed)
    health = cli(relay, "health", "--role", "worker", "-c", str(relay.config))
    assert health.returncode == 0, health.stdout
    assert health.stdout.startswith("ok: broker, store, s3 s3/t-"), health.stdout
    assert "worker heartbeat" in health.stdout and len(health.stdout.splitlines()) == 1


def test_pause_holds_files_across_a_watcher_restart_and_resume_releases_them(relay, s3_client):
    # given a working pipeline whose source is paused (DEBUG: a line per file the watcher emits)
    rewrite(relay, relay.fixed)
    relay.extra_env["FILERELAY_LOG_LEVEL"] = "DEBUG"
    relay.start_worker(concurrency=1)
    watcher = relay.start_watcher()
    assert cli(relay, "pause", "--source", "drop").stdout.strip() == "paused: drop"
    watcher.wait_log("watcher.sources_held", 30)
    # when files land, and the watcher restarts meanwhile
    (relay.inbox / "held1.bin").write_bytes(b"1")
    watcher.wait_log("held1.bin", 30)
    watcher.stop()
    (relay.inbox / "held2.bin").write_bytes(b"2")
    watcher = relay.start_watcher()
    watcher.wait_log("held2.bin", 30)

    def held() -> dict[str, int]:
        found = [a for a in cli_json(relay, "status")["agents"] if a["state"] == "online"]
        return next((a["details"]["held"] for a in found if a["role"] == "watcher"), {})

    # then nothing was processed; status shows both held
    wait_for(lambda: held() == {"drop": 2}, 30, what="2 held in status")
    assert count_by_state(relay.store) == {}
    # when resumed / then both are processed
    assert cli(relay, "resume").stdout.strip() == "resumed: drop"
    wait_for(lambda: count_by_state(relay.store) == {"succeeded": 2}, 60, what="2 succeeded")
    assert set(objects(s3_client, relay.bucket)) == {"drop/held1.bin", "drop/held2.bin"}
