"""Shared fixtures: real servers on loopback, each test with its own bucket, database and dirs.

A test that needs a service missing on a developer machine is skipped; under ``CI=true`` it
fails instead, so CI cannot go green by skipping.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_HOST, REDIS_PORT = "127.0.0.1", int(os.environ.get("FILERELAY_TEST_REDIS_PORT", "6379"))
PG_DSN = os.environ.get("FILERELAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def missing_service(what: str) -> None:
    """Skip locally, fail on CI."""
    if ON_CI:
        pytest.fail(f"{what} is required on CI but not reachable")
    pytest.skip(f"{what} not reachable")


def wait_for(
    predicate: Callable[[], T | None],
    timeout_s: float = 60.0,
    interval_s: float = 0.05,
    what: str = "",
) -> T:
    """Poll until ``predicate()`` is truthy; fail with ``what`` after the deadline."""
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the condition may raise until it holds
            last_exc = exc
        time.sleep(interval_s)
    raise AssertionError(
        f"timed out after {timeout_s}s waiting for {what or predicate}: {last_exc!r}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """Stop a test-started process group by pid: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout_s)


# --- Logging: no handler left writing to a closed stream ----------------------------------

_LAST_RESORT = logging.lastResort


def _closed(handler: logging.Handler | None) -> bool:
    return bool(getattr(getattr(handler, "stream", None), "closed", False))


@pytest.fixture(autouse=True)
def _logging_to_open_streams() -> Iterator[None]:
    """A command run in the test's process (typer's CliRunner) configures logging to the
    runner's stderr, which is closed after the run: drop such handlers afterwards, or a later
    test's log record (a server thread's) fails with "I/O operation on closed file"."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if _closed(h)]:
        root.removeHandler(handler)
    if _closed(logging.lastResort):
        logging.lastResort = _LAST_RESORT


# --- S3: moto in server mode, reached over HTTP ------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("moto_server")
    if not exe:
        missing_service("moto_server (pip install 'moto[server]')")
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: port_open("127.0.0.1", port), 60, what="moto server")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()


S3_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def s3_client(moto_endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(s3_client) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


# --- Redis: the machine's server, one database per test ----------------------------------


def _databases_of_this_process() -> range:
    """Redis databases 1-15, or under pytest-xdist this worker's share of them (``-n 2``:
    gw0 1-7, gw1 8-14): a test flushes its database, so two workers never share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return range(1, 16)
    index, count = int(worker.removeprefix("gw")), int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    share = 15 // count
    if share == 0:
        raise RuntimeError(f"{count} xdist workers: more than Redis's 15 spare databases")
    return range(1 + index * share, 1 + (index + 1) * share)


_redis_dbs = itertools.cycle(_databases_of_this_process())


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not port_open(REDIS_HOST, REDIS_PORT):
        missing_service(f"Redis at {REDIS_HOST}:{REDIS_PORT}")
    import redis

    db = next(_redis_dbs)
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    client.flushdb()
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    client.flushdb()
    client.close()


# --- Stores: migrated once per session, copied for each test ------------------------------
#
# Thirteen migrations cost a new store about a second; a test that only needs a store at head
# gets a copy of one migrated once per session (per xdist worker): a file copy on SQLite, a
# database created from a template on PostgreSQL. The template was migrated by the real
# migrations, so the copy is the migrated schema, byte for byte. Tests about migrating
# (tests/store/test_store_migrate.py and the like) keep ``db_url`` / ``pg_url``: empty.

_SQLITE_TEMPLATE: list[Path] = []


def migrated_sqlite(path: Path) -> str:
    """Put a store at head at ``path`` (a copy of the session's migrated template, which is
    made on first use) unless there is a file there already; returns its URL."""
    from filerelay.statedir import private_dir

    if not _SQLITE_TEMPLATE:
        from filerelay.store import ensure_schema, make_engine

        directory = Path(tempfile.mkdtemp(prefix="filerelay-template-"))
        atexit.register(shutil.rmtree, directory, True)
        template = directory / "store.db"
        engine = make_engine(f"sqlite:///{template}")
        ensure_schema(engine, auto_upgrade=True)
        engine.dispose()  # the last connection checkpoints and removes the -wal file
        _SQLITE_TEMPLATE.append(template)
    if path.exists():  # made by an earlier call of this test (a runtime built again)
        return f"sqlite:///{path}"
    private_dir(path.parent, tighten=False)
    shutil.copyfile(_SQLITE_TEMPLATE[0], path)
    path.chmod(0o600)
    return f"sqlite:///{path}"


@pytest.fixture
def migrated_sqlite_url(tmp_path: Path) -> str:
    """A SQLite store at head of this test's own (``tmp_path/store.db``)."""
    return migrated_sqlite(tmp_path / "store.db")


class PgTemplates:
    """Template databases of this session: ``empty`` (what CREATE DATABASE makes) and
    ``migrated`` (at head, made on first use); each test's database is created from one."""

    def __init__(self, admin: psycopg.Connection[Any]) -> None:
        self.admin = admin
        self.base = PG_DSN.rsplit("/", 1)[0]
        self.names: dict[str, str] = {}

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://{self.base.split('://', 1)[1]}/{name}"

    def template(self, kind: str) -> str:
        if kind not in self.names:
            name = f"filerelay_tmpl_{kind}_{uuid.uuid4().hex[:8]}"
            self.admin.execute(f'CREATE DATABASE "{name}"')
            self.names[kind] = name
            if kind == "migrated":
                from filerelay.store import ensure_schema, make_engine

                engine = make_engine(self.url(name))
                ensure_schema(engine, auto_upgrade=True)
                engine.dispose()
            # no connections (autovacuum's included): CREATE DATABASE … TEMPLATE needs none
            self.admin.execute(
                f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false'
            )
        return self.names[kind]

    def create(self, name: str, kind: str) -> str:
        """Database ``name`` as a copy of the ``kind`` template; returns its URL."""
        template = self.template(kind)
        for attempt in itertools.count():
            try:
                self.admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except Exception as exc:  # "source database … is being accessed by other users"
                if attempt >= 50 or "being accessed" not in str(exc):
                    raise
                time.sleep(0.1)
        return self.url(name)

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in self.names.values():
            self.admin.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false')
            self.drop(name)
        self.admin.close()


@pytest.fixture(scope="session")
def pg_templates() -> Iterator[PgTemplates]:
    try:
        import psycopg
    except ImportError:
        missing_service("psycopg (psycopg 3)")
    try:
        admin = psycopg.connect(PG_DSN, connect_timeout=3, autocommit=True)
    except Exception:
        missing_service(f"PostgreSQL at {PG_DSN}")
    templates = PgTemplates(admin)
    try:
        yield templates
    finally:
        templates.close()


def _pg_database(templates: PgTemplates, kind: str) -> Iterator[str]:
    name = f"filerelay_t_{uuid.uuid4().hex[:12]}"
    try:
        yield templates.create(name, kind)
    finally:
        templates.drop(name)


@pytest.fixture
def pg_url(pg_templates: PgTemplates) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of this test's own."""
    yield from _pg_database(pg_templates, "empty")


@pytest.fixture
def migrated_pg_url(pg_templates: PgTemplates) -> Iterator[str]:
    """A PostgreSQL database at head of this test's own."""
    yield from _pg_database(pg_templates, "migrated")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store URL on both supported databases (for tests of migrating)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store at head on both supported databases."""
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path / "store.db")
    return str(request.getfixturevalue("migrated_pg_url"))


PYTHON = sys.executable
