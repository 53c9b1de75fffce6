"""deploy/postgres/roles.sql on the real PostgreSQL: the owner role runs ``filerelay db
upgrade``; the worker role records events (admit, claim, succeed) but cannot create, alter or
drop a table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from filerelay.store import Store, make_engine
from filerelay.store.migrate import ensure_schema
from tests.conftest import PG_DSN, missing_service
from tests.deploy.helpers import ROOT
from tests.store.store_helpers import admit, make_event, plan, run_step, step, steps_at

ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass
class Roles:
    owner_url: str
    worker_url: str


def psql(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["psql", dsn, "-q", *args], capture_output=True, text=True)


@pytest.fixture
def roles() -> Iterator[Roles]:
    """The roles and database of roles.sql, under names of this test only."""
    if shutil.which("psql") is None:
        missing_service("psql (PostgreSQL's client)")
    if psql(PG_DSN, "-c", "SELECT 1").returncode != 0:
        missing_service(f"PostgreSQL at {PG_DSN}")
    tag = uuid.uuid4().hex[:10]
    owner, worker, db = f"fr_owner_{tag}", f"fr_worker_{tag}", f"fr_db_{tag}"
    pw_owner, pw_worker = uuid.uuid4().hex, uuid.uuid4().hex
    names = {"owner_role": owner, "worker_role": worker, "dbname": db}
    passwords = {"owner_password": pw_owner, "worker_password": pw_worker}
    variables = [f"--set={k}={v}" for k, v in {**names, **passwords}.items()]
    created = psql(PG_DSN, *variables, "-f", str(ROLES_SQL))
    host = PG_DSN.split("@", 1)[1].rsplit("/", 1)[0]
    try:
        assert created.returncode == 0, created.stderr
        yield Roles(
            owner_url=f"postgresql://{owner}:{pw_owner}@{host}/{db}",
            worker_url=f"postgresql://{worker}:{pw_worker}@{host}/{db}",
        )
    finally:
        psql(PG_DSN, "-c", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        psql(
            PG_DSN, "-c", f'DROP ROLE IF EXISTS "{worker}"', "-c", f'DROP ROLE IF EXISTS "{owner}"'
        )


def db_upgrade(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``filerelay db upgrade`` with the store URL in a secret file, as compose runs it."""
    secret = tmp_path / f"url-{uuid.uuid4().hex}"
    secret.write_text(url + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILERELAY_")}
    env["FILERELAY_DATABASE_URL_FILE"] = str(secret)
    cmd = [sys.executable, "-m", "filerelay", "db", "upgrade"]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)


def refused(store: Store, statement: str) -> bool:
    """Did PostgreSQL refuse ``statement`` for lack of privilege?"""
    try:
        with store.engine.begin() as conn:
            conn.execute(text(statement))
    except ProgrammingError as exc:
        # psycopg 3 names the SQLSTATE sqlstate, psycopg2 pgcode
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return code == INSUFFICIENT_PRIVILEGE
    return False


def test_the_owner_migrates_and_the_worker_records_events_without_ddl(
    roles: Roles, tmp_path: Path
) -> None:
    # given a fresh store migrated by the owner role
    done = db_upgrade(roles.owner_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "store at revision" in done.stdout
    # when a worker, as the worker role and with auto-upgrade off, records a file's journey
    engine = make_engine(roles.worker_url)
    try:
        ensure_schema(engine, auto_upgrade=False)
        store = Store(engine)
        event = make_event()
        [pipeline_id] = admit(store, event, plan("r", step(0, "upload"), step(1, "notify")))
        for position in (0, 1):
            [step_id] = steps_at(store, pipeline_id, position)
            run_step(store, step_id)
        # then the event is recorded as succeeded
        row = store.get_event(event.event_id)
        assert row is not None and row.state == "succeeded"
        # and the worker role can change no table's shape
        assert refused(store, "CREATE TABLE intruder (id integer)")
        assert refused(store, "ALTER TABLE file_events ADD COLUMN intruder integer")
        assert refused(store, "DROP TABLE steps")
        assert refused(store, "TRUNCATE file_events")
    finally:
        engine.dispose()


def test_the_worker_role_cannot_migrate(roles: Roles, tmp_path: Path) -> None:
    # given an empty store / when the worker role tries `filerelay db upgrade`
    done = db_upgrade(roles.worker_url, tmp_path)
    # then it is refused (exit 3, a store error), and the owner can still do it
    assert done.returncode == 3, done.stdout + done.stderr
    assert "permission denied" in done.stderr
    assert db_upgrade(roles.owner_url, tmp_path).returncode == 0
