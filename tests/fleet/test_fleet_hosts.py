"""Host-affine queues across simulated hosts (mount namespaces, see tests/fleet/hosts.py):
the same path with different bytes on two hosts is two objects, each with its own host's
bytes; no worker handles another host's file step; a metadata step runs on either; a host
whose worker is dead keeps its files waiting (its alert fires) while the other goes on.
Broker: Redis, then RabbitMQ (quorum queues); store: PostgreSQL; S3: moto.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from filerelay.alerting.measures import Inputs, agent_offline
from filerelay.alerting.repo import AlertStore
from filerelay.config.alerts import AgentOfflineRule
from filerelay.store import make_engine
from tests.conftest import port_open, wait_for
from tests.fleet.hosts import amqp_queue_name, make_hosts, require_namespaces, start_all

pytestmark = pytest.mark.slow

CONFIG = """\
connections:
  s3:
    type: s3
    endpoint_url: "{endpoint}"
    access_key_id: "${{AWS_ACCESS_KEY_ID}}"
    secret_access_key: "${{AWS_SECRET_ACCESS_KEY}}"
    path_style: true
sources:
  - name: inbox
    path: "{inbox}"
    silence: 300ms
routes:
  - name: up
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{agent}}/{{relpath}}"}}
        name: upload
      - webhook: {{url: "{hook}"}}
        name: tell
"""


@pytest.fixture(params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The broker settings of a test: its own Redis db, or its own queues on RabbitMQ."""
    if request.param == "redis":
        yield {"FILERELAY_BROKER_URL": str(request.getfixturevalue("redis_url"))}
        return
    if not port_open("127.0.0.1", 5672):
        pytest.skip("RabbitMQ at 127.0.0.1:5672")
    queue = amqp_queue_name()
    yield {"FILERELAY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//", "FILERELAY_QUEUE": queue}
    from kombu.connection import Connection

    with Connection("amqp://guest:guest@127.0.0.1:5672//") as conn:
        channel = conn.channel()
        for name in (queue, f"{queue}.host.host-a", f"{queue}.host.host-b"):
            try:
                channel.queue_delete(name)
            except Exception:
                channel = conn.channel()  # a missing queue closes the channel


def _objects(s3_client, bucket: str) -> dict[str, bytes]:
    out = {}
    for obj in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []):
        out[obj["Key"]] = s3_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def _steps(db_url: str) -> list[tuple[str, str, str, str]]:
    """(event agent, relpath, step action, agent that ran it) of every finished step."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT e.agent, e.relpath, s.action, s.agent FROM steps s "
                    "JOIN pipelines p ON p.id = s.pipeline_id "
                    "JOIN file_events e ON e.id = p.event_id WHERE s.status = 'succeeded'"
                )
            ).all()
        return [tuple(r) for r in rows]
    finally:
        engine.dispose()


def _offline_hosts(db_url: str) -> set[str]:
    store = AlertStore(make_engine(db_url))
    try:
        rule = AgentOfflineRule(
            name="gone", kind="agent_offline", after=2.0, role="worker", channels=["log"]
        )
        found = agent_offline(rule, Inputs(store, []), datetime.now(UTC))
        return {i.labels.get("agent_id", "") for i in found}
    finally:
        store.engine.dispose()


def test_each_host_delivers_its_own_files_and_waits_without_a_worker(
    tmp_path, broker, pg_url, moto_endpoint, bucket, s3_client, httpserver
) -> None:
    require_namespaces()
    httpserver.expect_request("/hook").respond_with_data("ok")
    # given two hosts with the same inbox path, each its own disk, watcher and worker
    hosts = make_hosts(
        tmp_path,
        ["host-a", "host-b"],
        {"FILERELAY_DATABASE_URL": pg_url, "FILERELAY_LEASE_S": "5", **broker},
        {"host-a": "site=sh", "host-b": "site=bj"},
    )
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        CONFIG.format(
            endpoint=moto_endpoint,
            inbox=hosts[0].inbox,
            bucket=bucket,
            hook=httpserver.url_for("/hook"),
        )
    )
    a, b = hosts
    try:
        start_all(hosts, "--config", str(config))
        # when the same relative path gets different bytes on each host
        a.write("cam/same.bin", b"bytes of host a")
        b.write("cam/same.bin", b"bytes of host b")
        # then it is delivered as two objects, each with its own host's bytes
        want = {
            "host-a/cam/same.bin": b"bytes of host a",
            "host-b/cam/same.bin": b"bytes of host b",
        }
        wait_for(lambda: _objects(s3_client, bucket) == want, 60, 0.3, what="both objects")
        wait_for(lambda: len(_steps(pg_url)) == 4, 30, 0.3, what="four steps recorded")
        # and no worker ran another host's file step; the metadata step ran on a live host
        for event_agent, _relpath, action, ran_on in _steps(pg_url):
            if action == "s3":
                assert ran_on == event_agent
            else:
                assert ran_on in {"host-a", "host-b"}

        # when host-b's worker dies and host-b gets a new file
        b.procs[0].stop_kill()
        wait_for(lambda: "host-b" in _offline_hosts(pg_url), 30, 0.3, what="host-b offline")
        b.write("cam/later.bin", b"b waits")
        a.write("cam/other.bin", b"a goes on")
        # then host-a goes on, and host-b's file waits (nothing sent where it cannot be read)
        wait_for(lambda: "host-a/cam/other.bin" in _objects(s3_client, bucket), 60, 0.3, what="a's")
        assert "host-b/cam/later.bin" not in _objects(s3_client, bucket)
        # when host-b's worker is back, its file is delivered
        b.start_worker("--config", str(config))
        wait_for(
            lambda: _objects(s3_client, bucket).get("host-b/cam/later.bin") == b"b waits",
            60,
            0.3,
            what="host-b's waiting file",
        )
        assert all(ran == ev for ev, _p, act, ran in _steps(pg_url) if act == "s3")
    except BaseException:
        for host in hosts:
            print(host.logs())
        raise
    finally:
        for host in hosts:
            host.stop()
