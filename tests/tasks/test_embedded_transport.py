"""The embedded broker's polling: fast while messages came lately, at ``polling_interval`` at
rest, a wait bounded by ``WAIT_S``; messages delivered once, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kombu.connection import Connection

from filerelay.tasks import embedded


@pytest.fixture
def connection(tmp_path: Path):
    embedded.register()
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path),
        "store_processed": False,
        "polling_interval": 0.05,
    }
    with Connection(f"{embedded.SCHEME}://", transport_options=options) as conn:
        yield conn


def test_polling_is_fast_after_a_message_and_slow_at_rest(connection, monkeypatch):
    # given a consumer of queue q, and a clock and sleeps the test drives
    clock = {"now": 1000.0}
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(round(seconds, 3))
        clock["now"] += seconds

    monkeypatch.setattr("filerelay.tasks.embedded.monotonic", lambda: clock["now"])
    monkeypatch.setattr("filerelay.tasks.embedded.sleep", sleep)
    got: list[object] = []
    queue = connection.SimpleQueue("q")
    consumer = queue.consumer

    def received(body: object, message: Any) -> None:
        got.append(body)
        message.ack()

    consumer.register_callback(received)
    consumer.consume()
    # when a message waits: it is delivered without a pause
    queue.put({"n": 1})
    connection.drain_events(timeout=2.0)
    assert got == [{"n": 1}] and pauses == []
    # when none comes within the wait (capped at WAIT_S): fast polls, then TimeoutError
    with pytest.raises(TimeoutError):
        connection.drain_events(timeout=2.0)
    assert pauses and set(pauses) <= {embedded.BUSY_POLL_S}
    assert sum(pauses) == pytest.approx(embedded.WAIT_S, abs=0.001)
    # when the last message is older than BUSY_FOR_S: polls at polling_interval
    clock["now"] += embedded.BUSY_FOR_S
    pauses.clear()
    with pytest.raises(TimeoutError):
        connection.drain_events(timeout=2.0)
    assert pauses == [0.05, 0.05, 0.05, 0.05]
    # and a message put meanwhile is delivered on the next drain, once
    queue.put({"n": 2})
    connection.drain_events(timeout=2.0)
    assert got == [{"n": 1}, {"n": 2}]
    queue.close()
