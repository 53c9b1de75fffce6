"""Several engines on one SQLite file in one process (as ``filerelay run`` has: the watcher's
heartbeat and pause poller, the log sink, the reconciler, the API), beside other processes.

SQLite's locks are POSIX record locks, owned by the process and dropped, all of them, when
the process closes *any* descriptor of the file. Opening a new engine used to open and close
the database file (to make it 0600): the process lost the shared lock each of its WAL
connections holds, the next process to close its last connection took the file for itself,
checkpointed and deleted the WAL and its index, and this process went on reading and writing
the deleted ones: stale reads, lost writes, then "database disk image is malformed".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from filerelay.agents import LazyStore, WatcherAgent
from filerelay.settings import load_settings
from tests.conftest import wait_for


def _other_process(db: Path, sql: str, *params: str) -> list[tuple[object, ...]]:
    """Run ``sql`` in another process (its own connection, closed as it exits)."""
    code = (
        "import json, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n"
        "rows = c.execute(sys.argv[2], sys.argv[3:]).fetchall()\n"
        "c.close()\n"
        "print(json.dumps(rows))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(db), sql, *params],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [tuple(row) for row in json.loads(done.stdout)]


def test_a_watcher_sees_a_pause_and_its_beats_are_seen_after_another_engine_opens(
    tmp_path: Path,
) -> None:
    # Given a watcher's agent on an SQLite store: registered, its source polled (its
    # connection stays open in the engine's pool, as in a running watcher)
    db = tmp_path / "store.db"
    settings = load_settings(
        database_url=f"sqlite:///{db}", state_dir=tmp_path / "state", heartbeat_s=60
    )
    agent = WatcherAgent(settings, [SimpleNamespace(name="inbox", path=tmp_path / "inbox")])
    try:
        assert agent.heartbeat.beat()
        assert agent._paused() == set()
        agent_id = agent.heartbeat.info.id
        query = "SELECT last_heartbeat_at FROM agents WHERE id = ?"
        (first_beat,) = _other_process(db, query, agent_id)
        # When this process opens another engine on the file (the log sink's, the API's)
        other = LazyStore(settings)
        other.get()
        # and another process pauses the source and exits
        _other_process(db, "UPDATE sources SET paused = 1 WHERE name = 'inbox'")
        # Then the watcher's pause poller sees the pause
        wait_for(lambda: agent._paused() == {"inbox"}, 3, what="the pause seen by the poller")
        # and its next heartbeat is seen by other processes
        assert agent.heartbeat.beat()
        (later_beat,) = _other_process(db, query, agent_id)
        assert later_beat != first_beat
        # and another process's writes after that are seen too
        _other_process(db, "UPDATE sources SET paused = 0 WHERE name = 'inbox'")
        wait_for(lambda: agent._paused() == set(), 3, what="the resume seen by the poller")
        other.close()
    finally:
        agent.store.close()
