"""The pause switch on the watcher side: held sources' files wait in the outbox, in order."""

from __future__ import annotations

from pathlib import Path

from filerelay.watcher.holds import HoldPoller, Holds, held_counts
from tests.conftest import wait_for
from tests.watcher.helpers import Published, make_source, running


def test_held_source_files_wait_in_the_outbox_and_resume_releases_them_in_order(
    tmp_path: Path,
) -> None:
    # given a watcher over two sources, one of them paused
    a, b, state = tmp_path / "a", tmp_path / "b", tmp_path / "state"
    a.mkdir()
    b.mkdir()
    holds = Holds()
    holds.update({"cam"})
    published = Published()
    sources = [make_source(a, name="cam"), make_source(b, name="docs")]
    with running(sources, state, published, held=holds.paused) as watcher:
        # when files land in both
        for i in range(5):
            (a / f"c{i}.jpg").write_bytes(b"x" * (i + 1))
            (b / f"d{i}.txt").write_bytes(b"y")
        published.wait_for(*(f"d{i}.txt" for i in range(5)))
        # then the paused source's files are detected but held in the outbox
        assert watcher.outbox is not None
        wait_for(lambda: watcher.outbox.depth() == 5, 30, what="5 held rows")
        assert not [r for r in published.relpaths() if r.startswith("c")]
        assert held_counts(state, frozenset({"cam"})) == {"cam": 5}
        detected = [event.event_id for _row, event in watcher.outbox.peek(100)]
        # when resumed, they are published, in the order they were detected
        holds.update(set())
        published.wait_for(*(f"c{i}.jpg" for i in range(5)))
        assert [e.event_id for e in published.events if e.source == "cam"] == detected
        wait_for(lambda: watcher.outbox.depth() == 0, 30, what="outbox drained")


def test_poller_keeps_the_last_known_set_while_the_store_is_down() -> None:
    holds = Holds()
    answers: list[object] = [{"cam"}, RuntimeError("store down"), set()]

    def fetch() -> set[str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    poller = HoldPoller(holds, fetch)
    poller.poll_once()
    assert holds.paused() == {"cam"}
    poller.poll_once()  # the outage: still held, nothing raised
    assert holds.paused() == {"cam"}
    poller.poll_once()
    assert holds.paused() == frozenset()


def test_the_last_known_switch_survives_a_restart_in_the_state_dir(tmp_path: Path) -> None:
    # given a watcher that learned 'cam' is paused
    first = Holds(cache=tmp_path / "paused.json")
    assert not first.known
    first.update({"cam"})
    # when a new watcher starts and the store cannot be reached
    second = Holds(cache=tmp_path / "paused.json")
    # then it holds 'cam' from its cache until the store says otherwise
    assert second.known and second.paused() == {"cam"}
    second.update(set())
    assert Holds(cache=tmp_path / "paused.json").paused() == frozenset()
