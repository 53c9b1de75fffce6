"""Step leases: short, and renewed by a heartbeat beside the running step.

A claimed step holds a lease of ``FILERELAY_LEASE_S`` (30 s by default), whatever its
timeout. While the step runs, a :class:`LeaseKeeper` thread renews it every third of that, so
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
    """Renews a claimed step's lease every ``lease_s / 3`` in a daemon thread while the step
    runs (``with LeaseKeeper(...) as keeper:``). A store outage is logged and the renewal
    tried again; a lease found taken sets :attr:`lost` and ends the renewals."""

    def __init__(self, store: Store, step_id: int, owner: str, lease_s: float) -> None:
        self.store = store
        self.step_id = step_id
        self.owner = owner
        self.lease_s = lease_s
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def held(self) -> bool:
        """False once a renewal found the lease taken: the step must stop."""
        return not self.lost.is_set()

    def _run(self) -> None:
        failing = False
        while not self._done.wait(self.lease_s / RENEWALS_PER_LEASE):
            try:
                renewed = self.store.renew_lease(self.step_id, self.owner, self.lease_s)
            except StoreError as exc:  # the lease may still hold: try again next time
                if not failing:
                    log.warning("lease_renewal_failed", step_id=self.step_id, error=str(exc))
                failing = True
                continue
            failing = False
            if not renewed:
                log.warning("step_lease_lost", step_id=self.step_id, reason="taken while running")
                self.lost.set()
                return
