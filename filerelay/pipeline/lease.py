"""Step leases: short, and renewed by a heartbeat beside the running step.

A claimed step holds a lease of ``FILERELAY_LEASE_S`` (30 s by default), whatever its
timeout. While the step runs, its :class:`LeaseKeeper` has it renewed every third of that by
the process's one renewal thread (:class:`_Renewer`, shared by every lease the process holds;
a thread started per step cost 0.2 ms of CPU and 0.7 ms of wall time on a loaded 2-core
machine, a twentieth of a small file's whole cost), so
a 10 GiB upload or a 20-minute script keeps its claim as long as its process lives, and a
worker that dies loses it within one lease (as Temporal's heartbeat timeout does). A renewal
that finds the lease taken by another worker marks it :attr:`LeaseKeeper.lost`; the step stops
at its next checkpoint (:meth:`~filerelay.actions.base.ActionContext.save_checkpoint`).

A lease owner is ``host:agent-tag:pid:nonce``: the agent tag names the worker (its agent id
ends with it), so a worker restarted on the same host that finds its predecessor dead can
end that predecessor's leases at once (:func:`filerelay.agents.release_dead_predecessors`).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from types import TracebackType

import structlog

from filerelay.errors import StoreError
from filerelay.store import Store

log = structlog.get_logger("filerelay.lease")

#: Renewals per lease: a lease survives two missed renewals (a slow store, a GC pause).
RENEWALS_PER_LEASE = 3


def new_owner(agent_tag: str = "-") -> str:
    """A lease owner unique to one execution of one message, naming its worker's agent."""
    return f"{os.uname().nodename}:{agent_tag}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_prefix(host: str, agent_tag: str) -> str:
    """What every lease owner of one worker agent starts with."""
    return f"{host}:{agent_tag}:"


class LeaseKeeper:
    """Has a claimed step's lease renewed every ``lease_s / 3`` while the step runs
    (``with LeaseKeeper(...) as keeper:``). A store outage is logged and the renewal tried
    again; a lease found taken sets :attr:`lost` and ends the renewals."""

    def __init__(self, store: Store, step_id: int, owner: str, lease_s: float) -> None:
        self.store = store
        self.step_id = step_id
        self.owner = owner
        self.lease_s = lease_s
        self.lost = threading.Event()
        self.due = 0.0  # monotonic time of the next renewal (the renewer's)
        self.failing = False

    def __enter__(self) -> LeaseKeeper:
        self.due = time.monotonic() + self.lease_s / RENEWALS_PER_LEASE
        _renewer().add(self)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        _renewer().remove(self)

    def held(self) -> bool:
        """False once a renewal found the lease taken: the step must stop."""
        return not self.lost.is_set()

    def renew(self) -> bool:
        """One renewal (the renewer's thread); False once the lease is lost."""
        try:
            renewed = self.store.renew_lease(self.step_id, self.owner, self.lease_s)
        except StoreError as exc:  # the lease may still hold: try again next time
            if not self.failing:
                log.warning("lease_renewal_failed", step_id=self.step_id, error=str(exc))
            self.failing = True
            return True
        self.failing = False
        if not renewed:
            log.warning("step_lease_lost", step_id=self.step_id, reason="taken while running")
            self.lost.set()
        return renewed


class _Renewer:
    """The process's one lease-renewal thread: renews every held lease when it falls due,
    sleeping until the earliest one (started at the first lease a process takes, so a
    forked pool process gets its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, LeaseKeeper] = {}
        self._wake = threading.Event()
        self._next_s = float("inf")  # when the thread wakes up next, unless woken
        self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
        self._thread.start()

    def add(self, keeper: LeaseKeeper) -> None:
        with self._lock:
            self._held[id(keeper)] = keeper
            earlier = keeper.due < self._next_s
        if earlier:  # only then (the thread is idle): no wake-up per step
            self._wake.set()

    def remove(self, keeper: LeaseKeeper) -> None:
        with self._lock:
            self._held.pop(id(keeper), None)

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            with self._lock:
                due = [k for k in self._held.values() if k.due <= now]
            for keeper in due:
                keeper.due = now + keeper.lease_s / RENEWALS_PER_LEASE
                if not keeper.renew():
                    self.remove(keeper)
            with self._lock:
                self._next_s = min((k.due for k in self._held.values()), default=float("inf"))
                wait_s = None if self._next_s == float("inf") else self._next_s - time.monotonic()
                self._wake.clear()
            if wait_s is None or wait_s > 0:
                self._wake.wait(wait_s)


_RENEWERS: dict[int, _Renewer] = {}
_RENEWERS_LOCK = threading.Lock()


def _renewer() -> _Renewer:
    """This process's renewer (a forked child does not inherit its parent's thread)."""
    pid = os.getpid()
    renewer = _RENEWERS.get(pid)
    if renewer is None:
        with _RENEWERS_LOCK:
            renewer = _RENEWERS.get(pid)
            if renewer is None:
                _RENEWERS.clear()
                renewer = _RENEWERS[pid] = _Renewer()
    return renewer
