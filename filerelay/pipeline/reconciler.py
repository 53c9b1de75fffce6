"""The reconciler: one loop (a singleton by a store lock) that heals what the broker lost.

Every ``interval_s`` it re-drives steps that no message may carry any more (a worker died
holding the lease, a message vanished with a Redis restart or a SIGKILL on the embedded
transport), fails poison steps that killed their worker on every attempt, re-ingests
events recorded but never routed, and starts undoing the completed steps of pipelines
cancelled with compensation once none of their steps runs. Recovery after a worker dies is
bounded by the step's lease (``FILERELAY_LEASE_S``, renewed while the step runs, whatever its
timeout) plus one interval, not by the broker's visibility timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from filerelay.model import FileEvent
from filerelay.pipeline.messages import redrive_message
from filerelay.pipeline.publisher import WorkPublisher
from filerelay.pipeline.runner import (
    Outcome,
    advance_stalled,
    compensate_cancelled,
    discard_checkpoint,
    fail_poisoned,
)
from filerelay.pipeline.runtime import Runtime
from filerelay.store import Store
from filerelay.store.cancel import CancelStore
from filerelay.store.locks import SingletonLock
from filerelay.store.rows import PoisonedStep

log = structlog.get_logger("filerelay.reconciler")

LOCK_NAME = "filerelay-reconciler"


@dataclass
class Pass:
    """What one reconcile pass did."""

    redriven: int = 0
    poisoned: int = 0
    reingested: int = 0
    aborted_uploads: int = 0
    unrecorded: int = 0


class Reconciler:
    """Heals stranded work; run :meth:`run` in one process of the deployment (others wait).

    What it re-sends goes through ``publisher`` (over Celery in a deployment).
    """

    def __init__(
        self,
        runtime: Runtime,
        publisher: WorkPublisher,
        *,
        interval_s: float = 15.0,
        grace_s: float = 60.0,
        orphan_upload_age_s: float = 3600.0,
        audit: Callable[[], Iterable[FileEvent]] | None = None,
        audit_interval_s: float = 300.0,
        sampler: Callable[[], object] | None = None,
    ) -> None:
        self.runtime = runtime
        self.publisher = publisher
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.orphan_upload_age_s = orphan_upload_age_s
        self.audit = audit
        self.audit_interval_s = audit_interval_s
        self._audited_at = 0.0
        self.sampler = sampler  # e.g. the queue-depth history (filerelay.ops.queue_depth)
        self.lock = SingletonLock(runtime.store.engine, LOCK_NAME)

    def run_once(self) -> Pass:
        store = self.runtime.store
        done = Pass()
        outcome = Outcome()
        for row in store.poisoned_steps():
            error = f"the worker died on each of {row.attempts} attempts (poison cap)"
            before = len(outcome.enqueue)
            with structlog.contextvars.bound_contextvars(**_step_context(store, row)):
                outcome.enqueue += fail_poisoned(self.runtime, row, error).enqueue
                log.error(
                    "step_poisoned",
                    step_id=row.id,
                    error=error,
                    compensation_steps=len(outcome.enqueue) - before,
                )
            done.poisoned += 1
        # while messages are queued, a due step's message is most likely among them: re-send
        # only steps whose worker died, so a backlog is never multiplied
        idle = self.publisher.queue_depth() == 0
        for step_id in store.stranded_steps(self.grace_s, include_overdue=idle):
            msg = redrive_message(self.runtime, step_id)
            if msg is not None:
                outcome.enqueue.append(msg)
        for pipeline_id in CancelStore(store.engine).awaiting_compensation():
            outcome.enqueue += compensate_cancelled(self.runtime, pipeline_id).enqueue
        for pipeline in store.stalled_pipelines(self.grace_s):
            outcome.enqueue += advance_stalled(self.runtime, pipeline.id, pipeline.event_id).enqueue
        redriven = len(outcome.enqueue)
        self.publisher.enqueue(outcome)
        done.redriven = redriven
        for event_id in store.unrouted_events(self.grace_s):
            event = store.load_event(event_id)
            if event is not None:
                self.publisher.send_ingest(event)
                done.reingested += 1
        done.aborted_uploads = self._abort_orphaned_uploads()
        done.unrecorded = self._audit_disk() if idle else 0
        if any(vars(done).values()):
            log.warning("reconciled", **vars(done))
        return done

    def _abort_orphaned_uploads(self) -> int:
        """Release what ended steps' checkpoints still hold (e.g. multipart uploads, whose
        parts cost storage): each action knows its own checkpoint."""
        store, aborted = self.runtime.store, 0
        for row in store.abandoned_checkpoints(self.orphan_upload_age_s):
            full = store.step_row(row.id)
            if row.checkpoint and full is not None:
                aborted += discard_checkpoint(self.runtime, full, row.checkpoint)
            store.clear_checkpoint(row.id)
        return aborted

    def _audit_disk(self) -> int:
        """Every ``audit_interval_s``: ingest files on disk the store never recorded (their
        message was lost after the watcher handed it over)."""
        if self.audit is None or time.monotonic() - self._audited_at < self.audit_interval_s:
            return 0
        self._audited_at = time.monotonic()
        sent = 0
        for event in self.audit():
            self.publisher.send_ingest(event)
            sent += 1
        return sent

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop``: take the singleton lock, then reconcile every interval."""
        try:
            while not stop.is_set():
                if self.lock.acquire():
                    try:
                        self.run_once()
                    except Exception:  # a store or broker outage: try again next interval
                        log.warning("reconcile_failed", exc_info=True)
                    self._sample()
                stop.wait(self.interval_s)
        finally:
            self.lock.release()

    def _sample(self) -> None:
        """Run the sampler; a broker or store outage loses a sample, never a pass."""
        if self.sampler is None:
            return
        try:
            self.sampler()
        except Exception as exc:
            log.warning("sample_failed", error=str(exc).splitlines()[0][:300] if str(exc) else "")


def _step_context(store: Store, row: PoisonedStep) -> dict[str, Any]:
    """The log context of a step the reconciler acts on, as a worker's lines have it."""
    full = store.step_row(row.id)
    event = store.get_event(full.event_id) if full else None
    return {
        "event_id": full.event_id if full else None,
        "source": event.source if event else None,
        "route": full.route if full else None,
        "step": row.name,
        "attempt": row.attempts,
    }
