"""The dashboard summary read from the minute/hour rollups, on SQLite and PostgreSQL: equal
to a computation from the event rows (counts exact, percentiles the upper bound of the bin
holding the exact one), also over a window crossing the open minute and mixing hour and
minute rows; a rebuild equals what the transitions kept; two workers finishing events at
once both count."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from filerelay.model import EventState
from filerelay.ops.summary import Summary, summarize
from filerelay.store import Store, make_engine, summary_rollups
from filerelay.store.overview import OverviewStore
from filerelay.store.records import Verdict
from filerelay.store.schema import file_events as fe
from filerelay.store.schema import pipelines as pl
from filerelay.store.schema import summary_rollups as sr
from tests.store.store_helpers import admit, fail_step, make_event, plan, run_step, step, steps_at


class Clock:
    """The store's clock, set by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("filerelay.store.repo.utcnow", c)
    return c


def _finish(store: Store, clock: Clock, at: datetime, latency_s: float, how: str, i: int) -> None:
    """One file recorded at ``at - latency_s`` and finished at ``at``: through a pipeline
    (``ok``/``fail``: route 'up', error 'ClientError: …') or set directly (``skip``)."""
    clock.now = at - timedelta(seconds=latency_s)
    event = make_event(f"s/{at.timestamp()}-{i}.bin")
    if how == "skip":
        store.admit(event, Verdict(state=EventState.QUEUED))
        clock.now = at
        store.set_event_state(event.event_id, "skipped")
        return
    [pid] = admit(store, event, plan("up", step(1, "put", max_attempts=1)))
    [sid] = steps_at(store, pid, 1)
    clock.now = at
    if how == "fail":
        fail_step(store, sid, f"ClientError: denied for /data/x{i}")
    else:
        run_step(store, sid)


def _traffic(store: Store, clock: Clock, now: datetime, ago_s: list[float]) -> None:
    for i, ago in enumerate(ago_s):
        how = "fail" if i % 5 == 0 else "skip" if i % 7 == 3 else "ok"
        _finish(store, clock, now - timedelta(seconds=ago), 0.004 * (i + 1) ** 2, how, i)


def _direct(engine: Engine, since: datetime, bucket_s: int) -> dict[str, object]:
    """What the summary should say, from the event and pipeline rows."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(fe.c.id, fe.c.state, fe.c.created_at, fe.c.updated_at).where(
                fe.c.updated_at >= since, fe.c.state.in_(summary_rollups.FINAL)
            )
        ).all()
        failed = conn.execute(
            select(pl.c.route, pl.c.error).where(
                pl.c.event_id.in_([r.id for r in rows if r.state == "failed"]),
                pl.c.status == "failed",
            )
        ).all()
    counts = Counter(r.state for r in rows)
    per: dict[int, list[float]] = {}
    ok: Counter[int] = Counter()
    bad: Counter[int] = Counter()
    for r in rows:
        b = summary_rollups.epoch_s(r.updated_at) // bucket_s
        if r.state in ("succeeded", "failed"):
            per.setdefault(b, []).append(summary_rollups.latency_s(r.created_at, r.updated_at))
            (ok if r.state == "succeeded" else bad)[b] += 1
    p99 = {}
    for b, values in per.items():
        values.sort()
        exact = values[round(0.99 * (len(values) - 1))]
        p99[b] = float(summary_rollups.latency_bin(exact)) * 1000
    return {
        "counts": dict(counts),
        "routes": dict(Counter(r.route for r in failed)),
        "classes": dict(Counter(summary_rollups.error_class(r.error) for r in failed)),
        "ok": ok,
        "bad": bad,
        "p99": p99,
    }


def _check(got: Summary, want: dict[str, object]) -> None:
    assert {k: v for k, v in got.counts.items() if k in summary_rollups.FINAL} == want["counts"]
    assert got.failures_by_route == want["routes"]
    assert got.failures_by_class == want["classes"]
    for point in got.series:
        b = int(point.at.timestamp()) // got.bucket_s
        assert point.succeeded == want["ok"][b]  # type: ignore[index]
        assert point.failed == want["bad"][b]  # type: ignore[index]
        assert point.p99_ms == want["p99"].get(b)  # type: ignore[attr-defined]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    from filerelay.store import ensure_schema

    engine = make_engine(db_url)
    ensure_schema(engine, auto_upgrade=True)
    try:
        yield Store(engine)
    finally:
        engine.dispose()


def test_the_hour_summary_equals_a_computation_from_the_rows(store: Store, clock: Clock) -> None:
    # given files finished over the last 70 minutes, the newest in the still-open minute
    now = datetime.now(UTC)
    _traffic(store, clock, now, [4170, 3500, 2000, 1999, 1200, 600, 601, 300, 120, 61, 60, 1, 0])
    # when the last hour is summarized
    got = summarize(OverviewStore(store.engine), "1h")
    # then it says what the rows say, per minute too, the open minute included
    _check(got, _direct(store.engine, got.since, 60))
    assert got.series[-1].succeeded + got.series[-1].failed >= 1
    assert got.failures_by_class == {"ClientError": 2}  # i = 5, 10 (0 is too old)
    assert got.success_rate == round(got.counts["succeeded"] / (2 + got.counts["succeeded"]), 4)


def test_the_week_summary_mixes_hour_and_minute_rows_exactly(store: Store, clock: Clock) -> None:
    # given files finished around the 7-day window's start (inside and outside it), over
    # whole hours in between and in the last minutes
    now = datetime.now(UTC)
    week = 7 * 86400
    _traffic(store, clock, now, [week + 120, week - 30, week - 200, 86400 * 3, 7200, 30, 0])
    # when the week is summarized / then its counts and hourly series equal the rows'
    got = summarize(OverviewStore(store.engine), "7d")
    _check(got, _direct(store.engine, got.since, 3600))
    assert sum(got.counts.get(s, 0) for s in summary_rollups.FINAL) == 6


def _rows(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        query = select(sr.c.grain, sr.c.at_s, sr.c.kind, sr.c.key, sr.c.n).order_by(
            sr.c.grain, sr.c.at_s, sr.c.kind, sr.c.key
        )
        return [tuple(r) for r in conn.execute(query)]


def test_a_rebuild_equals_what_the_transitions_kept(store: Store, clock: Clock) -> None:
    # given files finished through the store's paths, and one finish repeated (a redelivery)
    now = datetime.now(UTC)
    _traffic(store, clock, now, [5000, 3000, 900, 100, 10, 0])
    kept = _rows(store.engine)
    with store.engine.connect() as conn:
        done = conn.execute(select(fe.c.id).where(fe.c.state == "succeeded")).scalars().first()
    assert done is not None and store.set_event_state(done, "succeeded") is False
    assert _rows(store.engine) == kept
    # when the rows are rebuilt from the events, twice
    for _ in range(2):
        with store.engine.begin() as conn:
            summary_rollups.rebuild(conn)
        # then they are the same rows
        assert _rows(store.engine) == kept


def test_two_workers_finishing_at_once_both_count(db_url: str, store: Store) -> None:
    # given two workers, each with its own engine, and 2 x 15 files processing
    ids: list[list[str]] = [[], []]
    for w in range(2):
        for i in range(15):
            event = make_event(f"w{w}/{i}.bin")
            store.admit(event, Verdict(state=EventState.QUEUED))
            store.set_event_state(event.event_id, "processing")
            ids[w].append(event.event_id)
    errors: list[BaseException] = []

    def work(mine: list[str]) -> None:
        engine = make_engine(db_url)
        try:
            worker = Store(engine)
            for event_id in mine:
                worker.set_event_state(event_id, "succeeded")
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=work, args=(m,)) for m in ids]
    # when both finish theirs at the same time
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # then every finish is counted once, in the minute and in the hour rows
    assert not errors
    with store.engine.connect() as conn:
        for grain in summary_rollups.GRAINS:
            n = conn.execute(
                select(sr.c.n).where(
                    sr.c.grain == grain, sr.c.kind == "state", sr.c.key == "succeeded"
                )
            ).scalars()
            assert sum(n) == 30


def test_prune_drops_rows_past_eight_days(store: Store, clock: Clock) -> None:
    # given a file finished 9 days ago and one now
    now = datetime.now(UTC)
    _traffic(store, clock, now, [9 * 86400, 0])
    # when the old rows are pruned
    with store.engine.begin() as conn:
        dropped = summary_rollups.prune(conn, now)
    # then only the recent file's rows are left
    assert dropped >= 2
    ats = {row[1] for row in _rows(store.engine)}
    assert all(int(at) >= summary_rollups.epoch_s(now) - 3600 for at in ats)  # type: ignore[call-overload]
