"""The state machines of events, pipelines and steps — the one place they are defined.

Transitions are data. The repository never reads a state and then writes the next one: it
issues ``UPDATE … SET state = :to WHERE id = :id AND state IN (predecessors(to))``, so a
transition is atomic in SQL and two processes cannot both make it.

Event (one file version)::

    detected ─► queued ─► processing ─► succeeded | failed | vanished | skipped
                  │                               ▲
                  ├─► duplicate | vanished | skipped | failed
                  └──────────── failed ─► queued   (reprocess)

``detected`` lives only in the watcher (a stable file not yet handed to the broker); the
store's rows start as ``queued``, or as ``duplicate`` when the file version is already known.

Pipeline (one route run): ``running ─► succeeded | failed | compensating``;
``compensating ─► failed | compensation_failed`` (once its undo and on_failure steps ran).

Agent (a watcher or worker process, by its heartbeats): ``online``, ``offline``, ``stopped``
— not a stored column but read from the heartbeat times (:class:`AgentState`).

Step: ``pending ─► running ─► succeeded | failed``; ``running ─► pending`` (retry later),
``running ─► running`` (re-claimed after its lease expired), ``pending | running ─►
cancelled`` (its pipeline failed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from filerelay.errors import StoreError
from filerelay.model import EventState as E
from filerelay.model import PipelineStatus as P
from filerelay.model import StepStatus as S


class AgentState(StrEnum):
    """Whether an agent is heard from (see :mod:`filerelay.store.agents`)."""

    ONLINE = "online"  # its last heartbeat is recent
    OFFLINE = "offline"  # silent for several heartbeats: killed, or its host is gone
    STOPPED = "stopped"  # it stopped cleanly


@dataclass(frozen=True)
class StateMachine:
    """Allowed transitions of one kind of row, as data."""

    kind: str
    initial: frozenset[str]
    transitions: Mapping[str, frozenset[str]]

    @property
    def states(self) -> frozenset[str]:
        """Every state of the machine."""
        targets = {t for ts in self.transitions.values() for t in ts}
        return frozenset(self.transitions) | targets | self.initial

    @property
    def terminal(self) -> frozenset[str]:
        """States with no way out."""
        return frozenset(s for s in self.states if not self.transitions.get(s))

    def allowed(self, from_state: str, to_state: str) -> bool:
        """Whether ``from_state → to_state`` is a legal transition."""
        return to_state in self.transitions.get(from_state, frozenset())

    def predecessors(self, to_state: str) -> frozenset[str]:
        """The states from which ``to_state`` may be reached (for ``WHERE state IN …``)."""
        self._known(to_state)
        return frozenset(s for s, targets in self.transitions.items() if to_state in targets)

    def check(self, from_state: str, to_state: str) -> None:
        """Raise :class:`StoreError` naming both states unless the transition is legal."""
        self._known(from_state)
        self._known(to_state)
        if not self.allowed(from_state, to_state):
            raise StoreError(f"illegal {self.kind} transition {from_state} -> {to_state}")

    def _known(self, state: str) -> None:
        if state not in self.states:
            raise StoreError(f"unknown {self.kind} state {state!r}")


def _machine(kind: str, initial: set[str], table: dict[str, set[str]]) -> StateMachine:
    # Plain str, not the StrEnum members: they are bound as SQL parameters.
    return StateMachine(
        kind=kind,
        initial=frozenset(str(s) for s in initial),
        transitions={str(k): frozenset(str(t) for t in v) for k, v in table.items()},
    )


EVENT = _machine(
    "event",
    initial={E.QUEUED, E.DUPLICATE},
    table={
        E.DETECTED: {E.QUEUED},
        E.QUEUED: {E.PROCESSING, E.DUPLICATE, E.VANISHED, E.SKIPPED, E.FAILED},
        E.PROCESSING: {E.SUCCEEDED, E.FAILED, E.VANISHED, E.SKIPPED},
        E.FAILED: {E.QUEUED},
        E.SUCCEEDED: set(),
        E.DUPLICATE: set(),
        E.VANISHED: set(),
        E.SKIPPED: set(),
    },
)

PIPELINE = _machine(
    "pipeline",
    initial={P.RUNNING},
    table={
        P.RUNNING: {P.SUCCEEDED, P.FAILED, P.COMPENSATING},
        P.COMPENSATING: {P.FAILED, P.COMPENSATION_FAILED},
        P.SUCCEEDED: set(),
        P.FAILED: set(),
        P.COMPENSATION_FAILED: set(),
    },
)

STEP = _machine(
    "step",
    initial={S.PENDING},
    table={
        S.PENDING: {S.RUNNING, S.CANCELLED},
        S.RUNNING: {S.SUCCEEDED, S.FAILED, S.PENDING, S.RUNNING, S.CANCELLED},
        S.SUCCEEDED: set(),
        S.FAILED: set(),
        S.CANCELLED: set(),
    },
)
