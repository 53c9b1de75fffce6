"""One real uvicorn per store backend (SQLite, PostgreSQL) for the whole session, serving
the API on loopback over a deployment in a temp dir, with a token of each role; the tests
share it and keep to their own sources and events."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from filerelay.cli.serve import uvicorn_config, web_app
from filerelay.ops import tokens
from filerelay.ops.deployment import Deployment
from filerelay.settings import Settings, load_settings
from tests.conftest import PG_DSN, free_port, missing_service, wait_for

CONFIG = """\
sources:
  - name: inbox
    path: {inbox}
    silence: 200ms
  - name: other
    path: {other}
routes:
  - name: copy
    when: {{source: inbox}}
    steps:
      - copy: {{to: "{outbox}/{{relpath}}"}}
"""


@dataclass
class Api:
    """A served API: its base URL, deployment, folders and a token per role."""

    url: str
    dep: Deployment
    root: Path
    app: FastAPI
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = "admin") -> httpx.Client:
        """An HTTP client sending the token of ``role`` (None: no credentials)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def _settings(root: Path, database_url: str) -> Settings:
    for name in ("inbox", "other", "outbox"):
        (root / name).mkdir(parents=True, exist_ok=True)
    config = root / "pipeline.yaml"
    config.write_text(
        CONFIG.format(inbox=root / "inbox", other=root / "other", outbox=root / "outbox")
    )
    return load_settings(
        state_dir=root / "state", database_url=database_url, config=config, api_port=free_port()
    )


def _serve(settings: Settings) -> Iterator[Api]:
    dep = Deployment.open(settings)
    app = web_app(settings, dep)
    server = uvicorn.Server(uvicorn_config(app, settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 20, what="uvicorn started")
        api = Api(
            f"http://127.0.0.1:{settings.api_port}", dep, Path(settings.state_dir).parent, app
        )
        for role in tokens.Role:
            made = tokens.create(
                dep.control, f"{role.value}-{uuid.uuid4().hex[:6]}", role, None, "test"
            )
            api.tokens[role.value] = made.token
        yield api
    finally:
        server.should_exit = True
        thread.join(10)
        dep.close()


@pytest.fixture(scope="session")
def sqlite_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("api-sqlite")
    yield from _serve(_settings(root, f"sqlite:///{root / 'store.db'}"))


@pytest.fixture(scope="session")
def pg_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    try:
        import psycopg

        admin = psycopg.connect(PG_DSN, connect_timeout=3, autocommit=True)
    except Exception:
        missing_service(f"PostgreSQL at {PG_DSN}")
    name = f"filerelay_api_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_DSN.rsplit("/", 1)[0].split("://", 1)[1]
    root = tmp_path_factory.mktemp("api-pg")
    try:
        yield from _serve(_settings(root, f"postgresql+psycopg://{base}/{name}"))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def api(request: pytest.FixtureRequest) -> Api:
    """The served API on each store backend."""
    fixture = "sqlite_api" if request.param == "sqlite" else "pg_api"
    return request.getfixturevalue(fixture)
