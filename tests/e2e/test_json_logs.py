"""Issue 7: structured logs through real processes. In ``json`` mode every line of every process
(watcher, worker parent and prefork children, reconciler, ``filerelay run``) is one JSON
object; pipeline lines carry their context; no secret of the settings or the config appears,
even in a traceback that quotes them."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.chaos.helpers import RedisServer, start_reconciler, start_watcher, start_worker
from tests.conftest import wait_for
from tests.e2e.harness import Proc, Relay, clean_env
from tests.store.store_helpers import count_by_state

pytestmark = pytest.mark.slow

CONTEXT = ("event_id", "source", "route", "step", "attempt")
CELERY_TASK_LINE = re.compile(r"^Task filerelay\.(ingest|step)\[[^\]]+\] (received|succeeded)")

# a third-party action (installed through the entry-point group) whose failure quotes every
# secret it can reach: the S3 key, the broker URL with its password, the webhook secret
PLUGIN = """\
import os

from pydantic import BaseModel, ConfigDict, Field

from filerelay.actions.base import Action


class ExplodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connection: str = Field(description="S3 connection whose secret the error quotes.")


class ExplodeAction(Action[ExplodeConfig]):
    name = "explode"
    Config = ExplodeConfig
    connection_type = "s3"

    def run(self, ctx):
        key = self.resources.connection(self.config.connection).secret_access_key
        broker = os.environ["FILERELAY_BROKER_URL"]
        ctx.log.info("explode_trying", broker=broker, note="key " + key.get_secret_value())
        raise RuntimeError(
            f"upstream {broker} refused key {key.get_secret_value()} "
            f"and hook secret {os.environ['HOOK_SECRET']}"
        )
"""

CONFIG = """\
connections:
  s3: {{type: s3, endpoint_url: "{endpoint}", access_key_id: "${{S3_KEY}}",
        secret_access_key: "${{S3_SECRET}}", path_style: true}}
sources:
  - {{name: drop, path: "{inbox}", silence: 300ms}}
routes:
  - name: ship
    when: {{glob: "*.dat"}}
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{relpath}}"}}
        name: upload
      - webhook: {{url: "{hook}", secret: "${{HOOK_SECRET}}"}}
        name: hook
  - name: boom
    when: {{glob: "*.boom"}}
    steps:
      - explode: {{connection: s3}}
        retry: {{max_attempts: 2, backoff: 100ms, max_backoff: 200ms}}
"""


def install_plugin(folder: Path) -> str:
    """The plugin module and its dist-info (entry point ``filerelay.actions: explode``) in
    ``folder``; returns a PYTHONPATH that holds it."""
    folder.mkdir()
    (folder / "logtest_explode.py").write_text(PLUGIN)
    dist = folder / "filerelay_logtest-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: filerelay-logtest\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[filerelay.actions]\nexplode = logtest_explode:ExplodeAction\n"
    )
    return os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)


def parse_lines(proc: Proc) -> list[dict[str, Any]]:
    """Every line of the process's output (stdout and stderr) as JSON; fails on any other."""
    parsed, bad = [], []
    for number, line in enumerate(proc.log().splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            bad.append(f"{proc.name}:{number}: {line[:300]}")
            continue
        if isinstance(obj, dict):
            obj["_proc"] = proc.name
            parsed.append(obj)
        else:
            bad.append(f"{proc.name}:{number}: not an object: {line[:300]}")
    assert not bad, "lines that are not one JSON object:\n" + "\n".join(bad[:20])
    return parsed


def test_json_lines_carry_context_and_no_secret(
    tmp_path, moto_endpoint, bucket, httpserver: HTTPServer
):
    # given a Redis with a password, an S3 secret key, a webhook secret, and a plugin step
    # that fails quoting all of them
    secrets = {
        "broker password": f"brokerpw{uuid.uuid4().hex[:12]}",
        "s3 secret key": f"s3secret{uuid.uuid4().hex[:12]}",
        "s3 key id": f"AKIA{uuid.uuid4().hex[:12].upper()}",
        "webhook secret": "whsec_" + base64.b64encode(uuid.uuid4().bytes * 2).decode(),
    }
    redis = RedisServer(tmp_path / "redis", False, password=secrets["broker password"])
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    text = CONFIG.format(
        endpoint=moto_endpoint, inbox=inbox, bucket=bucket, hook=httpserver.url_for("/hook")
    )
    env = {
        "FILERELAY_LOG_FORMAT": "json",
        "FILERELAY_LOG_LEVEL": "DEBUG",  # the per-file and per-step lines are DEBUG
        "PYTHONPATH": install_plugin(tmp_path / "plugin"),
        "S3_KEY": secrets["s3 key id"],
        "S3_SECRET": secrets["s3 secret key"],
        "HOOK_SECRET": secrets["webhook secret"],
        "FILERELAY_RECONCILE_INTERVAL_S": "1",
    }
    (tmp_path / "relay").mkdir()
    relay = Relay(tmp_path / "relay", text, broker_url=redis.url(), extra_env=env)
    try:
        redis.start()
        # when a watcher, a prefork worker and the reconciler process three files, one of
        # which fails twice with an exception; each file comes once the one before is
        # recorded, so each is an ingest of its own (files that come together share an
        # ingest batch, whose task lines name several files)
        start_worker(relay, concurrency=2)
        start_watcher(relay)
        start_reconciler(relay)

        def wait_recorded(count: int) -> None:
            def done() -> bool:
                return sum(count_by_state(relay.store).values()) >= count

            wait_for(done, 60, what=f"{count} files recorded")

        for count, name in enumerate(("a.dat", "b.dat", "c.boom"), start=1):
            (inbox / name).write_bytes(os.urandom(2_000))
            wait_recorded(count)
        wait_for(
            lambda: count_by_state(relay.store) == {"succeeded": 2, "failed": 1},
            120,
            what="two files shipped, one failed",
        )
        for proc in relay.procs:  # everything up to and including the shutdown lines
            proc.stop()
        lines = [line for proc in relay.procs for line in parse_lines(proc)]
    except BaseException:
        print(relay.logs())
        raise
    finally:
        relay.stop()
        redis.stop()

    # then every line was one JSON object (parse_lines), and the pipeline lines have context
    check_context(lines)
    # and the failure's traceback is inside its JSON object, with the secrets masked
    errors = [line for line in lines if line["event"] == "step_unexpected_error"]
    assert [line["attempt"] for line in errors] == [1, 2], errors
    for line in errors:
        assert "Traceback (most recent call last)" in line["exception"]
        assert "RuntimeError: upstream redis://:***@127.0.0.1" in line["exception"]
    failed = [line for line in lines if line["event"] == "step_failed"]
    assert len(failed) == 1 and failed[0]["attempt"] == 2 and "***" in failed[0]["error"]
    # and no secret value appears anywhere in any process's output
    everything = "\n".join(proc.log() for proc in relay.procs)
    leaked = [what for what, value in secrets.items() if value in everything]
    assert not leaked, f"secrets in the logs: {leaked}"


def check_context(lines: list[dict[str, Any]]) -> None:
    procs = {line["_proc"] for line in lines}
    assert procs == {"worker", "watcher", "reconciler"}, procs
    files = {"a.dat", "b.dat", "c.boom"}
    stable = [line for line in lines if line["event"] == "watcher.file_stable"]
    event_of = {line["relpath"]: line["event_id"] for line in stable}
    assert set(event_of) == files, stable
    route_of = {event_of["a.dat"]: "ship", event_of["b.dat"]: "ship", event_of["c.boom"]: "boom"}
    for line in lines:
        # a line about one of the files carries its event id (once it has one); Celery's own
        # DEBUG lines (the pool's "Apply") are left out, its task lines are not
        celery_debug = line["logger"].startswith("celery.") and line["level"] == "debug"
        if celery_debug and not CELERY_TASK_LINE.match(line["event"]):
            continue
        if any(name in json.dumps(line) for name in files):
            assert line.get("event_id") in route_of, line
        # step lines and the lines actions log carry all five; no context leaks between tasks
        if line["event"].startswith("step_") and line["event"] != "step_not_claimable":
            assert all(line.get(key) not in (None, "") for key in CONTEXT), line
        if "route" in line:
            assert route_of[line["event_id"]] == line["route"], line
    tried = [line for line in lines if line["event"] == "explode_trying"]
    assert [line["attempt"] for line in tried] == [1, 2], tried
    if os.geteuid() == 0:  # Celery's SecurityWarning (a warnings.warn) is a JSON line too
        warned = [line for line in lines if "SecurityWarning" in line["event"]]
        assert warned and all(line["_proc"] == "worker" for line in warned), procs
    assert all(line["step"] and line["route"] == "boom" for line in tried), tried
    assert tried[0]["broker"].startswith("redis://:***@127.0.0.1:"), tried[0]
    # ingest lines carry the event and its source
    routed = [line for line in lines if line["event"] == "routed"]
    assert {line["event_id"] for line in routed} == set(route_of), routed
    assert all(line["source"] == "drop" for line in routed), routed
    # Celery's own task lines come through the formatter, with the event they concern
    celery = [m for line in lines if (m := CELERY_TASK_LINE.match(line["event"]))]
    kinds = {(m.group(1), m.group(2)) for m in celery}
    assert kinds == {(t, s) for t in ("ingest", "step") for s in ("received", "succeeded")}
    for line in lines:
        if CELERY_TASK_LINE.match(line["event"]):
            assert line.get("event_id") in route_of and line.get("task_id"), line


def test_filerelay_run_writes_json_lines(tmp_path):
    # given `filerelay run` (watcher, reconciler, worker child) on the embedded broker in
    # json mode
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        f'sources:\n  - {{name: drop, path: "{inbox}", silence: 300ms}}\n'
        "routes:\n  - name: keep\n    steps:\n"
        f'      - copy: {{to: "{outbox}/{{relpath}}"}}\n'
    )
    env = clean_env(
        FILERELAY_LOG_FORMAT="json",
        FILERELAY_LOG_LEVEL="DEBUG",
        FILERELAY_STATE_DIR=str(tmp_path / "state"),
    )
    argv = [sys.executable, "-m", "filerelay", "run", "--config", str(config)]
    proc = Proc("run", argv, env, tmp_path, tmp_path / "run.log").start()
    try:
        proc.wait_log("watcher_ready", 90)
        proc.wait_log("worker_ready", 90)
        # when a file is copied
        (inbox / "one.txt").write_text("hello")
        wait_for(lambda: (outbox / "one.txt").exists(), 60, what="the copy")
        proc.wait_log("event_finished", 60)
        proc.stop()
        lines = parse_lines(proc)
    except BaseException:
        print(proc.log()[-8000:])
        raise
    finally:
        proc.stop()
    # then every line of the three roles is JSON and the step line has its context
    done = [line for line in lines if line["event"] == "step_succeeded"]
    assert len(done) == 1 and all(done[0].get(key) for key in CONTEXT), done
