"""``LimitStore``: token buckets, circuit breakers and deferred steps in the store.

Every write is a conditional ``UPDATE`` (like :mod:`filerelay.store.steps`): a token is taken
only if the bucket's ``version`` is still the one read, a breaker moves only from the state
its ``WHERE`` names, so two workers never both spend one token or both become the half-open
probe. Each method takes ``now`` (an injected clock in tests) and is one short transaction.

Breaker states::

    closed ──(failures consecutive retryable failures)──► open ──(cool_down)──► half_open
      ▲                                                     ▲                      │ one probe
      └──────────────── the probe succeeded ────────────────┴── the probe failed ◄─┘
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, insert, or_, select, update

from filerelay.model import StepStatus
from filerelay.store import pipelines
from filerelay.store.access import Transactions, translated
from filerelay.store.db import as_utc
from filerelay.store.schema import breakers, rate_buckets, steps

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
BREAKER_STATES = (CLOSED, OPEN, HALF_OPEN)
TAKE_TRIES = 8  # conditional updates lost to other workers before answering "wait a bit"


@dataclass(frozen=True)
class BreakerRow:
    """One destination's breaker as stored."""

    destination: str
    state: str
    failures: int
    opens: int
    opened_at: datetime | None
    open_until: datetime | None
    probe_until: datetime | None
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Permit:
    """The breaker's answer to one attempt: go (``probe``: as the half-open probe), or wait
    until ``until``."""

    allowed: bool
    state: str = CLOSED
    failures: int = 0
    probe: bool = False
    until: datetime | None = None


class LimitStore(Transactions):
    """Rate buckets, breakers and step deferrals on one metadata database."""

    # --- token buckets ----------------------------------------------------------------------

    @translated
    def take_token(self, key: str, rate_per_s: float, capacity: float, now_s: float) -> float:
        """Take one token of bucket ``key`` (refilled at ``rate_per_s``, holding at most
        ``capacity``) at ``now_s`` (epoch seconds). Returns 0.0 when taken, else the seconds
        until a token will be there."""
        for _ in range(TAKE_TRIES):
            wait = self._write_racing(lambda conn: _take(conn, key, rate_per_s, capacity, now_s))
            if wait is not None:
                return wait
        return 1.0 / rate_per_s  # lost every race: the others are taking tokens; wait one

    # --- breakers ---------------------------------------------------------------------------

    @translated
    def breaker_permit(self, destination: str, owner: str, now: datetime, probe_s: float) -> Permit:
        """May an attempt reach ``destination`` now? Closed: yes. Open: not before its
        ``open_until``; after it, the first asker becomes the half-open probe (holding it for
        ``probe_s``) and the others wait for the probe's outcome."""
        now = as_utc(now)
        with self._read() as conn:
            row = _row(conn, destination)
        if row is None or row.state == CLOSED:
            return Permit(True, CLOSED, row.failures if row else 0)
        if row.state == OPEN and row.open_until is not None and row.open_until > now:
            return Permit(False, OPEN, row.failures, until=row.open_until)
        if row.state == HALF_OPEN and row.probe_until is not None and row.probe_until > now:
            return Permit(False, HALF_OPEN, row.failures, until=row.probe_until)
        with self._write() as conn:
            taken = conn.execute(
                update(breakers)
                .where(breakers.c.destination == destination, _probe_free(now))
                .values(
                    state=HALF_OPEN,
                    probe_owner=owner,
                    probe_until=now + timedelta(seconds=probe_s),
                    updated_at=now,
                )
            ).rowcount
        if taken == 1:
            return Permit(True, HALF_OPEN, row.failures, probe=True)
        return Permit(False, HALF_OPEN, row.failures, until=now + timedelta(seconds=probe_s))

    @translated
    def breaker_success(self, destination: str, now: datetime) -> str | None:
        """An attempt reached ``destination``: the breaker closes and its count restarts.
        Returns the state it left when that was not closed (else None)."""
        now = as_utc(now)
        with self._write() as conn:
            row = _row(conn, destination)
            if row is None or (row.state == CLOSED and row.failures == 0):
                return None
            conn.execute(
                update(breakers)
                .where(breakers.c.destination == destination)
                .values(
                    state=CLOSED,
                    failures=0,
                    open_until=None,
                    probe_owner=None,
                    probe_until=None,
                    updated_at=now,
                )
            )
            return row.state if row.state != CLOSED else None

    @translated
    def breaker_failure(
        self,
        destination: str,
        owner: str,
        now: datetime,
        threshold: int,
        cool_down_s: float,
        error: str,
    ) -> bool:
        """A retryable failure reaching ``destination``; True if the breaker opened now (the
        ``threshold``-th consecutive failure while closed, or the probe's failure)."""
        now = as_utc(now)
        return self._write_racing(
            lambda conn: _fail(conn, destination, owner, now, threshold, cool_down_s, error)
        )

    @translated
    def release_probe(self, destination: str, owner: str, now: datetime) -> bool:
        """The probe ended without telling whether the destination is healthy (a permanent
        error of the file, a deferral): the next attempt may probe at once."""
        with self._write() as conn:
            done = conn.execute(
                update(breakers)
                .where(
                    breakers.c.destination == destination,
                    breakers.c.state == HALF_OPEN,
                    breakers.c.probe_owner == owner,
                )
                .values(probe_until=as_utc(now), updated_at=as_utc(now))
            )
            return done.rowcount == 1

    @translated
    def breakers(self) -> list[BreakerRow]:
        """Every destination's breaker, by destination."""
        with self._read() as conn:
            rows = conn.execute(select(breakers).order_by(breakers.c.destination)).mappings()
            return [_as_row(r) for r in rows]

    # --- steps ------------------------------------------------------------------------------

    @translated
    def defer_step(self, step_id: int, owner: str, reason: str, until: datetime) -> bool:
        """Put a claimed step back to pending until ``until`` without using an attempt (its
        claim's attempt is given back); ``reason`` becomes its ``last_error``. False when
        ``owner`` no longer holds its lease."""
        with self._write() as conn:
            pipeline_id = conn.execute(
                select(steps.c.pipeline_id).where(steps.c.id == step_id)
            ).scalar()
            if pipeline_id is None:
                return False
            pipeline = pipelines.lock(conn, pipeline_id)
            active = pipeline["status"] in pipelines.ACTIVE
            done = conn.execute(
                update(steps)
                .where(
                    steps.c.id == step_id,
                    steps.c.status == StepStatus.RUNNING.value,
                    steps.c.lease_owner == owner,
                )
                .values(
                    status=StepStatus.PENDING.value if active else StepStatus.CANCELLED.value,
                    attempts=steps.c.attempts - 1,
                    last_error=reason,
                    next_attempt_at=as_utc(until),
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
            return done.rowcount == 1


def _take(
    conn: Connection, key: str, rate_per_s: float, capacity: float, now_s: float
) -> float | None:
    """One try at a token: 0.0 taken, > 0 the wait, None lost a race (try again)."""
    row = conn.execute(
        select(rate_buckets.c.tokens, rate_buckets.c.stamp, rate_buckets.c.version).where(
            rate_buckets.c.key == key
        )
    ).first()
    if row is None:
        values = {"key": key, "tokens": capacity - 1.0, "stamp": now_s, "version": 0}
        conn.execute(insert(rate_buckets).values(**values))  # a lost race: IntegrityError
        return 0.0
    stamp: float = row.stamp
    tokens: float = min(capacity, row.tokens + max(0.0, now_s - stamp) * rate_per_s)
    if tokens < 1.0:
        return (1.0 - tokens) / rate_per_s
    done = conn.execute(
        update(rate_buckets)
        .where(rate_buckets.c.key == key, rate_buckets.c.version == row.version)
        .values(tokens=tokens - 1.0, stamp=max(now_s, stamp), version=row.version + 1)
    )
    return 0.0 if done.rowcount == 1 else None


def _fail(
    conn: Connection,
    destination: str,
    owner: str,
    now: datetime,
    threshold: int,
    cool_down_s: float,
    error: str,
) -> bool:
    if _row(conn, destination) is None:
        conn.execute(
            insert(breakers).values(
                destination=destination, state=CLOSED, failures=0, opens=0, updated_at=now
            )
        )
    here = breakers.c.destination == destination
    conn.execute(
        update(breakers)
        .where(here, breakers.c.state == CLOSED)
        .values(failures=breakers.c.failures + 1, last_error=error[:2000], updated_at=now)
    )
    opens = or_(
        and_(breakers.c.state == CLOSED, breakers.c.failures >= threshold),
        and_(breakers.c.state == HALF_OPEN, breakers.c.probe_owner == owner),
    )
    done = conn.execute(
        update(breakers)
        .where(here, opens)
        .values(
            state=OPEN,
            opens=breakers.c.opens + 1,
            opened_at=now,
            open_until=now + timedelta(seconds=cool_down_s),
            probe_owner=None,
            probe_until=None,
            last_error=error[:2000],
            updated_at=now,
        )
    )
    return done.rowcount == 1


def _probe_free(now: datetime) -> ColumnElement[bool]:
    """WHERE: the breaker waits for a probe (open past its cool-down, or its probe lapsed)."""
    return or_(
        and_(breakers.c.state == OPEN, breakers.c.open_until <= now),
        and_(breakers.c.state == HALF_OPEN, breakers.c.probe_until <= now),
    )


def _row(conn: Connection, destination: str) -> BreakerRow | None:
    found = conn.execute(select(breakers).where(breakers.c.destination == destination))
    row = found.mappings().first()
    return _as_row(row) if row is not None else None


def _as_row(row: object) -> BreakerRow:
    values = dict(row)  # type: ignore[call-overload]
    values.pop("probe_owner", None)
    return BreakerRow(**values)
