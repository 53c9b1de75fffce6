"""The config center across simulated hosts (mount namespaces, see tests/fleet/hosts.py):
a canary, promote, rollback, a version refused by the agent, and a store outage — each
host's files follow the version it was assigned. Store: PostgreSQL (behind a proxy the test
cuts); broker: Redis; S3: moto.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from filerelay.errors import UsageError
from filerelay.ops import rollout
from filerelay.store import ensure_schema, make_engine
from filerelay.store.fleet import STOPPED, FleetStore
from tests.conftest import wait_for
from tests.fleet.hosts import Host, make_hosts, require_namespaces, start_all
from tests.tcp_proxy import TcpProxy

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
      - s3: {{connection: s3, bucket: "{bucket}", key: "{version}/{{agent}}/{{relpath}}"}}
"""


def _keys(s3_client, bucket: str) -> set[str]:
    return {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])}


def _running(fleet: FleetStore) -> dict[str, int | None]:
    return {a.agent: a.running for a in rollout.fleet_status(fleet).agents}


def _switched(host: Host, fleet: FleetStore, version: int, reloads: int) -> bool:
    """The host reports ``version`` and its worker reloaded its rules ``reloads`` times."""
    worker_log = host.procs[0].log()
    return _running(fleet).get(host.agent) == version and (
        worker_log.count("config_reloaded") >= reloads
    )


def test_canary_promote_rollback_refusal_and_store_outage(
    tmp_path, redis_url, pg_url, moto_endpoint, bucket, s3_client, monkeypatch
) -> None:
    require_namespaces()
    # given a store (reached through a proxy the test can cut) holding v1 for every agent
    engine = make_engine(pg_url)
    ensure_schema(engine, auto_upgrade=True)
    fleet = FleetStore(engine)
    inbox = tmp_path / "inbox"

    def text(version: str, extra: str = "") -> str:
        body = CONFIG.format(endpoint=moto_endpoint, inbox=inbox, bucket=bucket, version=version)
        return body + extra

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    v1 = rollout.push_config(fleet, text("v1"), "v1.yaml").version
    pg = urlsplit(pg_url)
    proxy = TcpProxy(pg.hostname or "127.0.0.1", pg.port or 5432).restore()
    proxied = pg_url.replace(f"@{pg.hostname}:{pg.port}", f"@127.0.0.1:{proxy.port}")
    hosts = make_hosts(
        tmp_path,
        ["host-a", "host-b"],
        {
            "FILERELAY_DATABASE_URL": proxied,
            "FILERELAY_BROKER_URL": redis_url,
            "FILERELAY_FLEET_POLL_S": "0.5",
            "FILERELAY_CONFIG": "store:",
        },
        {},
    )
    a, b = hosts
    try:
        # and two hosts whose watcher and worker take their config from the store
        start_all(hosts)
        wait_for(lambda: _running(fleet) == {"host-a": v1, "host-b": v1}, 30, 0.2, what="v1")

        # when v2 is pushed to host-a only
        v2 = rollout.push_config(
            fleet, text("v2"), "v2.yaml", rollout.Target(agents=("host-a",))
        ).version
        wait_for(lambda: _switched(a, fleet, v2, 1), 30, 0.2, what="host-a on v2")
        a.write("one.txt", b"a1")
        b.write("one.txt", b"b1")
        # then host-a's files follow v2 while host-b's follow v1
        want = {"v2/host-a/one.txt", "v1/host-b/one.txt"}
        wait_for(lambda: want <= _keys(s3_client, bucket), 60, 0.3, what="canary objects")

        # when the canary is promoted: both on v2
        rollout.promote(fleet)
        wait_for(lambda: _switched(b, fleet, v2, 1), 30, 0.2, what="host-b on v2")
        a.write("two.txt", b"a2")
        b.write("two.txt", b"b2")
        want = {"v2/host-a/two.txt", "v2/host-b/two.txt"}
        wait_for(lambda: want <= _keys(s3_client, bucket), 60, 0.3, what="promoted objects")

        # when rolled back: both on v1 again
        rollout.rollback(fleet)
        wait_for(lambda: _switched(a, fleet, v1, 2), 30, 0.2, what="host-a back on v1")
        wait_for(lambda: _switched(b, fleet, v1, 2), 30, 0.2, what="host-b back on v1")
        a.write("three.txt", b"a3")
        b.write("three.txt", b"b3")
        want = {"v1/host-a/three.txt", "v1/host-b/three.txt"}
        wait_for(lambda: want <= _keys(s3_client, bucket), 60, 0.3, what="rolled-back objects")

        # when a version that cannot load on the agents (an env var they lack) is a canary
        monkeypatch.setenv("ONLY_HERE", "x")
        bad = text("v3", '        name: "${ONLY_HERE}"\n')
        v3 = rollout.push_config(fleet, bad, "v3.yaml", rollout.Target(agents=("host-a",)))

        # then host-a refuses it, the rollout stops there, and host-a stays on v1
        def refusal_reported() -> rollout.AgentConfig | None:
            found = [x for x in rollout.fleet_status(fleet).agents if x.agent == "host-a"]
            return found[0] if found and found[0].refused else None

        host_a = wait_for(refusal_reported, 30, 0.2, what="host-a's refusal in its heartbeat")
        status = rollout.fleet_status(fleet)
        assert status.active is not None and status.active.state == STOPPED
        assert host_a.running == v1 and host_a.refused["version"] == v3.version
        assert f"refused v{v3.version}" in (status.active.reason or "")
        with pytest.raises(UsageError, match="stopped"):
            rollout.promote(fleet)
        rollout.rollback(fleet)

        # when the store is cut and host-a's worker restarts
        proxy.cut()
        a.procs[0].stop()
        a.start_worker(wait=False).wait_log("config_store_unreachable", 60)
        # then it runs its last good version (v1) once the store is back
        proxy.restore()
        a.procs[-1].wait_log("worker_ready", 90)
        a.write("four.txt", b"a4")
        wait_for(
            lambda: "v1/host-a/four.txt" in _keys(s3_client, bucket), 60, 0.3, what="last good"
        )
    except BaseException:
        for host in hosts:
            print(host.logs())
        raise
    finally:
        for host in hosts:
            host.stop()
        proxy.cut()
        engine.dispose()
