"""Fixtures of the chaos suite: deployments with short leases and a fast reconciler, a Redis
server the test owns, and an HTTP receiver. Every process is stopped by pid at teardown; the
logs of a failed test are printed."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.chaos.helpers import CHAOS_ENV, Receiver, RedisServer
from tests.conftest import missing_service
from tests.e2e.harness import Relay


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.chaos_failed = report.failed  # type: ignore[attr-defined]


@pytest.fixture
def deploy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Relay]]:
    """``deploy(config_text, broker_url, **env)``: a Relay in ``tmp_path`` with the chaos
    settings (3 s leases, reconcile every 1 s after a 3 s grace); ``NAME=None`` in ``env``
    leaves that setting at its default."""
    made: list[Relay] = []

    def make(config_text: str, broker_url: str, **env: str | None) -> Relay:
        root = tmp_path / f"relay{len(made)}" if made else tmp_path
        root.mkdir(exist_ok=True)
        merged = {k: v for k, v in {**CHAOS_ENV, **env}.items() if v is not None}
        relay = Relay(root, config_text, broker_url=broker_url, extra_env=merged)
        made.append(relay)
        return relay

    try:
        yield make
    finally:
        procs = [proc for relay in made for proc in relay.procs]
        with ThreadPoolExecutor(max(1, len(procs))) as pool:  # each stop may take seconds
            list(pool.map(lambda proc: proc.stop(), procs))
        for relay in made:
            relay.stop()
            if getattr(request.node, "chaos_failed", False):
                print(relay.logs())


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Callable[[bool], RedisServer]]:
    """``own_redis(appendonly)``: a redis-server on a free port that the test may kill."""
    if shutil.which("redis-server") is None:
        missing_service("redis-server binary")
    servers: list[RedisServer] = []

    def make(appendonly: bool) -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(servers)}", appendonly)
        servers.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def broker_url(own_redis: Callable[[bool], RedisServer]) -> str:
    """A Redis of this test alone: the machine's shared one may be flushed by another pytest
    session (``redis_url`` picks database numbers per process)."""
    return own_redis(False).url()


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(*args: object, **kwargs: object) -> Receiver:
        receiver = Receiver(*args, **kwargs)  # type: ignore[arg-type]
        made.append(receiver)
        return receiver

    try:
        yield make
    finally:
        for receiver in made:
            receiver.close()
