"""Secrets stay out of the store and the CLI, whatever a script prints (issue 18).

A real worker, with the broker's and the store's passwords, AWS keys and other credentials in
its environment, runs scripts that dump their environment: the default script sees none of
those; a script with ``inherit_env: true`` sees them and prints them to stdout and stderr (with
a NUL byte, which PostgreSQL refuses in text) and fails. Nothing secret is then found in any
row of the store, in ``events list --json`` or in ``events show``; the failure is recorded and
the event is ``failed``; the config version is stored masked under its real SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, select

from filerelay.store import Store, make_engine
from filerelay.store.listing import EventFilter
from filerelay.store.rows import EventRow
from tests.conftest import wait_for
from tests.e2e.harness import Relay, running
from tests.e2e.operator_helpers import cli, cli_json, private_queue

pytestmark = pytest.mark.slow

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-Secret-9f8e7d",
    "DB_PASSWORD": "db-pass-4c3b2a",
    "MY_API_TOKEN": "tok-1a2b3c4d",
    "HOOK_SECRET": "whsec-5e6f7a8b",
    "LITERAL_IN_CONFIG": "lit-0c0ffee0",
}
PG_PASSWORD = "pg-Pw-77aa88bb"

CONFIG = """\
connections:
  mq: {{type: amqp, url: "amqp://guest:{literal}@127.0.0.1:5672//"}}
sources:
  - {{name: in, path: "{src}", silence: 300ms}}
routes:
  - name: plain
    steps:
      - script: {{argv: ["{dump}"], pass_file_as_arg: false}}
  - name: inherit
    steps:
      - script:
          argv: ["{dump}", "fail"]
          pass_file_as_arg: false
          inherit_env: true
          env: {{HOOK: "${{HOOK_SECRET}}"}}
"""
DUMP = """\
#!/bin/sh
env
echo "see https://user:{pg}@example.test/x?token={tok}&page=2"
if [ "$1" = fail ]; then env >&2; printf 'nul:\\000:end\\n' >&2; exit 3; fi
"""


@pytest.fixture
def relay(tmp_path: Path, redis_url: str, pg_url: str) -> Iterator[Relay]:
    src = tmp_path / "src"
    src.mkdir()
    dump = tmp_path / "dump.sh"
    dump.write_text(DUMP.format(pg=PG_PASSWORD, tok=SECRETS["MY_API_TOKEN"]))
    dump.chmod(dump.stat().st_mode | stat.S_IXUSR)
    text = CONFIG.format(src=src, dump=dump, literal=SECRETS["LITERAL_IN_CONFIG"])
    db_url = pg_url.replace("postgres@", f"postgres:{PG_PASSWORD}@")  # trust auth: any works
    env = {**SECRETS, **private_queue(), "FILERELAY_DATABASE_URL": db_url}
    relay = Relay(tmp_path, text, broker_url=redis_url, extra_env=env)
    relay.db_url = db_url
    relay.src = src  # type: ignore[attr-defined]
    with running(relay):
        yield relay


def all_text(engine: Engine) -> str:
    """Every value of every row of every table, as one text."""
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        rows = [row for table in meta.sorted_tables for row in conn.execute(select(table))]
    return json.dumps([list(r) for r in rows], default=str)


def leaks(text: str) -> list[str]:
    return [v for v in [*SECRETS.values(), PG_PASSWORD] if v in text]


def test_script_output_and_config_versions_keep_no_secret(relay: Relay) -> None:
    # given a worker whose environment holds credentials, and a file
    relay.start_worker(concurrency=1)
    relay.start_watcher()
    (relay.src / "a.txt").write_text("a")  # type: ignore[attr-defined]
    store = Store(make_engine(relay.db_url))
    try:
        # when both scripts ran
        def failed() -> EventRow | None:
            page = store.list_page(EventFilter())
            return page.rows[0] if page.rows and page.rows[0].state == "failed" else None

        event = wait_for(failed, 90, what="the event failed (recorded despite the NUL)")
        runs = store.timeline(event.id)
        # then the default script saw none of the worker's credentials
        plain = next(r for r in runs if r.route == "plain")
        out = plain.steps[0].result["stdout_tail"]
        assert "FILERELAY_EVENT_ID=" in out and "PATH=" in out
        assert "AWS_SECRET_ACCESS_KEY" not in out and "FILERELAY_DATABASE_URL" not in out
        assert "example.test/x?token=***&page=2" in out  # userinfo gone, token masked
        # and the inheriting one's failure is recorded, masked, without the NUL
        inherit = next(r for r in runs if r.route == "inherit")
        error = inherit.steps[0].last_error or ""
        assert "exited with code 3" in error and "AWS_SECRET_ACCESS_KEY=***" in error
        assert "nul:\ufffd:end" in error
        # and no secret is anywhere in the store
        assert leaks(all_text(store.engine)) == []
        # and the config version is masked under the real text's SHA-256
        real = relay.config.read_text()
        stored = store.config_text(hashlib.sha256(real.encode()).hexdigest())
        assert stored is not None and SECRETS["LITERAL_IN_CONFIG"] not in stored
        assert "${HOOK_SECRET}" in stored
    finally:
        store.engine.dispose()
    # and the CLI shows none of them either
    listed = cli(relay, "events", "list", "--json")
    shown = cli(relay, "events", "show", event.id)
    shown_json = cli_json(relay, "events", "show", event.id)
    assert listed.returncode == 0 and shown.returncode == 0, shown.stderr
    assert "AWS_SECRET_ACCESS_KEY=***" in shown.stdout + json.dumps(shown_json)
    assert leaks(listed.stdout + shown.stdout + json.dumps(shown_json)) == []


def test_state_dir_is_private(tmp_path: Path) -> None:
    # given a relay on the embedded broker with its store in the state dir, and an old,
    # world-readable state dir
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    text = (
        f'sources: [{{name: in, path: "{src}", silence: 300ms}}]\n'
        f'routes: [{{name: c, steps: [{{copy: {{to: "{out}/{{relpath}}"}}}}]}}]\n'
    )
    relay = Relay(tmp_path, text)
    relay.db_url = f"sqlite:///{state / 'filerelay.db'}"
    relay.extra_env = {"FILERELAY_DATABASE_URL": ""}
    try:
        relay.start_worker(concurrency=1)
        relay.start_watcher()
        # when a file went through
        (src / "a.txt").write_text("a")
        wait_for(lambda: (out / "a.txt").exists(), 60, what="the copy")
        # then nothing in the state dir is open to other users: folders 0700, files 0600 —
        # but for the embedded broker's messages in flight, which kombu writes with the umask
        # into its (0700) queue folder
        entries = [state, *state.rglob("*")]
        assert any(p.name == "filerelay.db" for p in entries)
        assert any(p.name == "watcher.sqlite" for p in entries)
        in_flight = state / "broker" / "queue"
        loose = {
            str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777)
            for p in entries
            if p.exists() and p.stat().st_mode & 0o077 and p.parent != in_flight
        }
        assert loose == {}
        assert in_flight.stat().st_mode & 0o777 == 0o700
    except BaseException:
        print(relay.logs())
        raise
    finally:
        relay.stop()
