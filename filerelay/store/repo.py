"""``Store``: the metadata store's one entry point — short transactions, errors translated.

The store holds the truth of delivery; Celery only carries the work. Each method is one short
transaction (``BEGIN IMMEDIATE`` on SQLite, so concurrent writer processes queue up instead
of failing) and behaves the same on SQLite and PostgreSQL. Driver errors leave as
:class:`~filerelay.errors.StoreError`.

The life of a file version, as the tasks drive it::

    admit (record + pipelines + first claim) ─► succeed_step (complete + advance) ─► claim_step ─► …
                                             ├► retry_step (claim again later)
                                             └► fail_and_advance (compensate, or fail the event)

``advance`` alone moves a pipeline on whose step ended without it (a redelivery, the
reconciler); ``fail_poisoned`` fails a step whose worker died on every attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from filerelay.model import EventState, FileEvent, JSONDict
from filerelay.store import (
    admission,
    agents,
    audit_tx,
    batch_admission,
    batch_success,
    configs,
    events,
    history,
    listing,
    pipelines,
    prune,
    recovery,
    sources,
    steps,
)
from filerelay.store.access import Transactions, translated
from filerelay.store.agents import AgentInfo
from filerelay.store.db import as_utc, utcnow
from filerelay.store.listing import Cursor, EventFilter, Page
from filerelay.store.prune import Pruned
from filerelay.store.records import (
    Admission,
    Advance,
    ClaimedStep,
    InlineClaim,
    StepPlan,
    Verdict,
    event_from_row,
)
from filerelay.store.rows import (
    AgentRow,
    EventRow,
    PendingEvent,
    PipelineRow,
    PipelineRun,
    PoisonedStep,
    RoutedStep,
    SourceRow,
    StepCheckpoint,
    StepRow,
)


class Store(Transactions):
    """Events, pipelines and steps of one metadata database.

    Safe to share between threads, and to use from several processes at once (each with its
    own engine). Pass an engine from :func:`~filerelay.store.db.make_engine` whose schema is
    current (:func:`~filerelay.store.migrate.ensure_schema`).
    """

    # --- events ---------------------------------------------------------------------------

    @translated
    def set_event_state(self, event_id: str, state: str, reason: str | None = None) -> bool:
        """Move an event to ``state`` (checked against the state machine).

        False when it is already there; :class:`StoreError` for an illegal transition.
        """
        with self._write() as conn:
            return events.transition(conn, event_id, str(state), utcnow(), reason)

    @translated
    def admit(
        self, event: FileEvent, verdict: Verdict, inline: InlineClaim | None = None
    ) -> Admission:
        """Record the event and act on ``verdict`` in one transaction: the ingest's hot path.

        New and routed: the event is ``processing``, its pipelines exist, and the answer
        lists their first steps — less the one claimed for ``inline``, if it could be.
        Otherwise: a known ``event_id`` (a redelivered ingest) is answered as recorded before,
        going on only while it is ``queued`` (a reprocess then gets a new run); a known dedup
        key makes it a ``duplicate``; a verdict without plans records its ``state``.
        """
        return self._write_racing(
            lambda conn: admission.admit(conn, event, verdict, utcnow(), inline)
        )

    @translated
    def admit_many(
        self, admissions: Sequence[tuple[FileEvent, Verdict, InlineClaim | None]]
    ) -> list[Admission]:
        """:meth:`admit` several events in one transaction (an ingest batch's): each event
        is recorded exactly as :meth:`admit` would, one transaction's commit for all — set-wise
        when all are new (:mod:`~filerelay.store.batch_admission`)."""
        return self._write_racing(lambda conn: batch_admission.admit(conn, admissions, utcnow()))

    # --- pipelines ------------------------------------------------------------------------

    @translated
    def advance(self, pipeline_id: int) -> Advance:
        """Move the pipeline on once its current position is done; finish it and the event.

        Call it after the step's completing transaction committed. Safe to call twice or
        concurrently. On a pipeline whose current steps wait, it returns those not yet claimed.
        """
        with self._write() as conn:
            return pipelines.advance(conn, pipeline_id, utcnow())

    # --- steps ----------------------------------------------------------------------------

    @translated
    def claim_step(
        self,
        step_id: int,
        owner: str,
        lease_s: float,
        now: datetime | None = None,
        agent: str | None = None,
    ) -> ClaimedStep | None:
        """Take the step's lease if it may run now; None for a duplicate or late delivery.

        Claimable: the pipeline is running at the step's position, attempts are left, and
        the step is pending and due, or running under an expired lease.
        """
        with self._write() as conn:
            return steps.claim(conn, step_id, owner, lease_s, _now(now), agent)

    @translated
    def succeed_step(self, claim: ClaimedStep, owner: str, result: JSONDict) -> Advance | None:
        """Record the claimed step succeeded and :meth:`advance` its pipeline, in one
        transaction; None if ``owner`` no longer holds the lease (nothing changed)."""
        with self._write() as conn:
            now = utcnow()
            if not steps.complete(conn, claim.step_id, owner, result, now, claim.started_at):
                return None
            return pipelines.advance(conn, claim.pipeline_id, now)

    @translated
    def succeed_steps(
        self, done: Sequence[tuple[ClaimedStep, str, JSONDict]]
    ) -> list[Advance | None]:
        """:meth:`succeed_step` for several claimed steps ``(claim, owner, result)`` in one
        transaction (a batch's): each completed and advanced exactly as alone, set-wise
        (:mod:`~filerelay.store.batch_success`); the answers in the order given."""
        with self._write() as conn:
            return batch_success.succeed(conn, done, utcnow())

    @translated
    def fail_and_advance(
        self, claim: ClaimedStep, owner: str, error: str, recovery_plan: list[StepPlan] | None
    ) -> Advance | None:
        """Fail the claimed step for good and :meth:`advance`, in one transaction; None if the
        lease is lost.

        A main step: pending steps are cancelled and the pipeline fails, or — given
        ``recovery_plan`` (undo and on_failure steps) — starts compensating; the event ends
        ``failed`` once no pipeline of it is active. An undo or on_failure step: the advance
        goes on to the next one.
        """
        with self._write() as conn:
            now = utcnow()
            before = events.get(conn, claim.event_id)
            if not steps.fail(conn, claim.step_id, owner, error, now, recovery_plan):
                return None
            adv = pipelines.advance(conn, claim.pipeline_id, now)
            ended = before is not None and before["state"] == EventState.PROCESSING
            if adv.event_state and ended and not adv.event_finished_now:
                adv = replace(adv, event_finished_now=True)
            return adv

    @translated
    def save_checkpoint(self, step_id: int, owner: str, data: JSONDict, lease_s: float) -> bool:
        """Save a running step's progress and extend its lease; False if the lease is lost."""
        with self._write() as conn:
            return steps.save_checkpoint(conn, step_id, owner, data, lease_s, utcnow())

    @translated
    def renew_lease(self, step_id: int, owner: str, lease_s: float) -> bool:
        """Extend a running step's lease by ``lease_s`` from now; False if ``owner`` lost it."""
        with self._write() as conn:
            return steps.renew_lease(conn, step_id, owner, lease_s, utcnow())

    @translated
    def retry_step(self, step_id: int, owner: str, error: str, next_attempt_at: datetime) -> bool:
        """Release the lease and let the step be claimed again from ``next_attempt_at``."""
        with self._write() as conn:
            return steps.retry(conn, step_id, owner, error, as_utc(next_attempt_at))

    # --- reads ----------------------------------------------------------------------------

    @translated
    def get_event(self, event_id: str) -> EventRow | None:
        """The event's row, or None."""
        with self._read() as conn:
            row = events.get(conn, event_id)
            return EventRow.of(row) if row is not None else None

    @translated
    def pipelines_of(self, event_id: str) -> list[PipelineRow]:
        """Every pipeline of the event (all runs), oldest first."""
        with self._read() as conn:
            return pipelines.rows_of(conn, event_id)

    @translated
    def steps_of(self, pipeline_id: int) -> list[StepRow]:
        """Every step of the pipeline in running order."""
        with self._read() as conn:
            return steps.rows_of(conn, pipeline_id)

    @translated
    def step_row(self, step_id: int) -> RoutedStep | None:
        """One step row with its pipeline's ``route`` and ``event_id``, or None."""
        with self._read() as conn:
            return steps.row_with_route(conn, step_id)

    # --- recovery (the reconciler) ---------------------------------------------------------

    @translated
    def stranded_steps(
        self, grace_s: float, limit: int = 500, include_overdue: bool = True
    ) -> list[int]:
        """Steps no message may carry any more: expired leases, and (``include_overdue``)
        pending steps due for longer than ``grace_s`` (see :mod:`filerelay.store.recovery`)."""
        now = utcnow()
        with self._read() as conn:
            ids = recovery.expired_leases(conn, now, limit)
            if include_overdue:
                cutoff = now - timedelta(seconds=grace_s)
                ids += recovery.overdue_steps(conn, cutoff, limit)
            return ids

    @translated
    def stalled_pipelines(self, grace_s: float, limit: int = 200) -> list[PipelineRow]:
        """Active pipelines whose position has no step left to run (a lost advance)."""
        cutoff = utcnow() - timedelta(seconds=grace_s)
        with self._read() as conn:
            ids = recovery.stalled_pipelines(conn, cutoff, limit)
            return [PipelineRow.of(pipelines.get(conn, i)) for i in ids]

    @translated
    def poisoned_steps(self, limit: int = 100) -> list[PoisonedStep]:
        """Running steps whose lease expired with no attempts left (see :mod:`recovery`)."""
        with self._read() as conn:
            return recovery.poisoned_steps(conn, utcnow(), limit)

    @translated
    def fail_poisoned(
        self, step_id: int, error: str, recovery_plan: list[StepPlan] | None = None
    ) -> bool:
        """Fail a step whose worker died on every attempt, as :meth:`fail_and_advance` would
        (call :meth:`advance` after it)."""
        with self._write() as conn:
            return recovery.fail_poisoned(conn, step_id, error, utcnow(), recovery_plan)

    @translated
    def abandoned_checkpoints(self, age_s: float, limit: int = 100) -> list[StepCheckpoint]:
        """Ended steps still holding a checkpoint older than ``age_s`` (orphaned uploads)."""
        with self._read() as conn:
            return recovery.abandoned_checkpoints(conn, utcnow() - timedelta(seconds=age_s), limit)

    @translated
    def expire_leases_of(self, owner_prefix: str) -> int:
        """End the leases held by a dead worker (owners starting with ``owner_prefix``) so
        that its steps are re-driven at once; how many there were."""
        with self._write() as conn:
            return recovery.expire_leases_of(conn, owner_prefix, utcnow())

    @translated
    def known_dedup_keys(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` the store has recorded (the reconciler's disk audit)."""
        with self._read() as conn:
            return recovery.known_dedup_keys(conn, keys)

    @translated
    def clear_checkpoint(self, step_id: int) -> None:
        """Forget a step's checkpoint (its upload was aborted, or is gone)."""
        with self._write() as conn:
            recovery.clear_checkpoint(conn, step_id)

    @translated
    def load_event(self, event_id: str) -> FileEvent | None:
        """The ``FileEvent`` an event row was recorded from, or None."""
        with self._read() as conn:
            row = events.get(conn, event_id)
            return event_from_row(row) if row is not None else None

    @translated
    def unrouted_events(self, grace_s: float, limit: int = 500) -> list[str]:
        """Events recorded ``queued`` longer than ``grace_s`` ago that never got a pipeline."""
        with self._read() as conn:
            return recovery.unrouted_events(conn, utcnow() - timedelta(seconds=grace_s), limit)

    # --- routing configs ------------------------------------------------------------------

    @translated
    def save_config(self, sha256: str, text: str, path: str | None = None) -> None:
        """Keep a loaded config's text under its SHA-256 (idempotent, also when two processes
        save the same version at once)."""
        try:
            with self._write() as conn:
                configs.save(conn, sha256, text, path, utcnow())
        except IntegrityError:
            pass  # another process saved the same version first: same text

    @translated
    def config_text(self, sha256: str) -> str | None:
        """The text of the config with this SHA-256, if it was ever saved."""
        with self._read() as conn:
            return configs.text_of(conn, sha256)

    # --- operator views (events list / show, status) --------------------------------------

    @translated
    def list_page(self, flt: EventFilter, limit: int = 50, cursor: Cursor | None = None) -> Page:
        """A page of matching events, newest first (keyset pagination on created_at, id)."""
        with self._read() as conn:
            return listing.page(conn, flt, limit, cursor)

    @translated
    def routes_of(self, event_ids: list[str]) -> dict[str, list[str]]:
        """Routes of each event's pipelines (all runs)."""
        with self._read() as conn:
            return listing.routes_of(conn, event_ids)

    @translated
    def count_by_state_since(self, since: datetime) -> dict[str, int]:
        """Events created since ``since``, per state."""
        with self._read() as conn:
            return listing.count_by_state_since(conn, as_utc(since))

    @translated
    def oldest_pending(self) -> PendingEvent | None:
        """The oldest queued or processing event, or None."""
        with self._read() as conn:
            return listing.oldest_pending(conn)

    @translated
    def timeline(self, event_id: str) -> list[PipelineRun]:
        """Every pipeline of the event (all runs), each with its ``steps``."""
        with self._read() as conn:
            return history.timeline(conn, event_id)

    @translated
    def events_by_path(self, path: str) -> list[EventRow]:
        """Every recorded version of the file at an absolute path, oldest first."""
        with self._read() as conn:
            return history.by_path(conn, path)

    @translated
    def last_config_hash(self, event_id: str) -> str | None:
        """SHA-256 of the rules the event's latest run used (None if it never ran)."""
        with self._read() as conn:
            return history.last_config_hash(conn, event_id)

    # --- agents and sources ---------------------------------------------------------------

    @translated
    def register_agent(self, info: AgentInfo, details: JSONDict | None = None) -> None:
        """Register (or re-register) a watcher or worker process."""
        with self._write() as conn:
            agents.register(conn, info, utcnow(), details or {})

    @translated
    def agent_heartbeat(self, agent_id: str, details: JSONDict | None = None) -> bool:
        """Record a heartbeat; False if the agent is unknown (register it again)."""
        with self._write() as conn:
            return agents.heartbeat(conn, agent_id, utcnow(), details or {})

    @translated
    def stop_agent(self, agent_id: str) -> bool:
        """Mark the agent stopped cleanly."""
        with self._write() as conn:
            return agents.stop(conn, agent_id, utcnow())

    @translated
    def agents(
        self, seen_since: datetime, role: str | None = None, host: str | None = None
    ) -> list[AgentRow]:
        """Agents heard from since ``seen_since``, each with its ``state`` now."""
        with self._read() as conn:
            return agents.rows(conn, utcnow(), as_utc(seen_since), role, host)

    @translated
    def register_source(self, name: str, root: str | None) -> None:
        """Make a source known (its pause switch is kept)."""
        # two watchers may register it at once
        self._write_racing(lambda conn: sources.register(conn, name, root, utcnow()))

    @translated
    def set_paused(self, name: str, paused: bool, by: str) -> bool:
        """Pause or resume a source's auto-upload; False if it already was so."""
        with self._write() as conn:
            changed = sources.set_paused(conn, name, paused, by, utcnow())
            audit_tx.write_pending(conn)  # the operator's switch, audited with its effect
            return changed

    @translated
    def paused_sources(self) -> set[str]:
        """Names of the paused sources."""
        with self._read() as conn:
            return sources.paused_names(conn)

    @translated
    def sources(self) -> list[SourceRow]:
        """Every known source with its switch."""
        with self._read() as conn:
            return sources.all_rows(conn)

    # --- maintenance ----------------------------------------------------------------------

    @translated
    def prune_count(self, before: datetime, states: list[str]) -> Pruned:
        """What :meth:`prune_batch` calls until done would delete."""
        with self._read() as conn:
            return prune.count(conn, as_utc(before), states)

    @translated
    def prune_batch(self, before: datetime, states: list[str], size: int = 500) -> Pruned:
        """Delete one batch of old events in ``states`` with their pipelines and steps."""
        with self._write() as conn:
            return prune.batch(conn, as_utc(before), states, size)


def _now(now: datetime | None) -> datetime:
    return utcnow() if now is None else as_utc(now)
