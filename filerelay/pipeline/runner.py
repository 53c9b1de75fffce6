"""The pipeline runner: ingest an event, run one step. Imports no Celery.

The Celery tasks decode a message, call these functions, and enqueue what they return. The
store holds the truth: a step runs only after its row is claimed, is marked done only under
its own lease, and the next steps are computed from the store after that commit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from filerelay.actions.base import ActionContext
from filerelay.config.models import StepBase, slot_name, step_slots
from filerelay.errors import PermanentError
from filerelay.model import (
    EventState,
    FileEvent,
    JSONDict,
    PipelineStatus,
    StepPhase,
    StepStatus,
)
from filerelay.pipeline.compensation import recovery_plan, undone_result
from filerelay.pipeline.hooks import FAILED, LEASE_LOST, RETRY, SUCCEEDED
from filerelay.pipeline.lease import LeaseKeeper, new_owner
from filerelay.pipeline.limits import Gate, admit
from filerelay.pipeline.messages import (
    StepMessage,
    message_for,
    redrive_message,
    ref_message,
    step_message,
    step_slot,
)
from filerelay.pipeline.retry import backoff_s, is_retryable
from filerelay.pipeline.runtime import Rules, Runtime
from filerelay.pipeline.trust import REFUSED, refusal
from filerelay.routing.match import Match
from filerelay.store import (
    Admission,
    Advance,
    ClaimedStep,
    InlineClaim,
    RoutePlan,
    StepPlan,
    Verdict,
)
from filerelay.store.cancel import CancelStore
from filerelay.store.rows import PoisonedStep, RoutedStep

log = structlog.get_logger("filerelay.runner")

INLINE_LIMIT_SLACK_S = 1.0  # a step runs inside the ingest only if its timeout is that limit


@dataclass
class Outcome:
    """What the caller must enqueue after a runner call."""

    enqueue: list[StepMessage] = field(default_factory=list)


def ingest(
    runtime: Runtime,
    event: FileEvent,
    rules_sha256: str | None = None,
    inline_budget_s: float | None = None,
    send: Callable[[list[StepMessage]], None] | None = None,
) -> Outcome:
    """Record the event, re-stat the file, route it, create pipelines, start their first steps.

    ``rules_sha256`` routes with that saved config version instead of the current rules
    (``filerelay reprocess --same-rules``); an unknown version fails the event.
    ``inline_budget_s``: the ingest task's own time limit. A first step whose timeout is that
    limit is claimed in the recording transaction and run here, instead of going through the
    broker again (the watcher sets the limit to the longest first-step timeout). ``send``
    publishes the other first steps before that step runs, so other routes do not wait
    for it.
    """
    prepared = prepare(runtime, event, rules_sha256, inline_budget_s)
    admitted = runtime.store.admit(prepared.event, prepared.verdict, prepared.inline)
    return started(runtime, prepared, admitted, rules_sha256, send)


@dataclass
class Prepared:
    """An event checked, re-stated and routed: what its admission records."""

    event: FileEvent
    rules: Rules | None
    matches: list[Match]
    verdict: Verdict
    owner: str
    inline: InlineClaim | None


def prepare(
    runtime: Runtime,
    event: FileEvent,
    rules_sha256: str | None = None,
    inline_budget_s: float | None = None,
) -> Prepared:
    """The part of :func:`ingest` before its transaction (no store write)."""
    rules, matches, verdict = _decide(runtime, event, rules_sha256)
    if verdict.reason and verdict.reason.startswith(REFUSED):
        # recorded under a key of its own: a forged key must not make a real file a duplicate
        event = event.model_copy(update={"dedup_key": f"{REFUSED}:{event.event_id}"})
    owner = new_owner(runtime.owner_tag)
    inline = _inline_slot(runtime, rules, matches, owner, inline_budget_s)
    return Prepared(event, rules, matches, verdict, owner, inline)


def started(
    runtime: Runtime,
    prepared: Prepared,
    admitted: Admission,
    rules_sha256: str | None = None,
    send: Callable[[list[StepMessage]], None] | None = None,
) -> Outcome:
    """The part of :func:`ingest` after its transaction: log what was recorded, run the
    claimed first step, and return the other first steps to send."""
    out, running = begin_started(runtime, prepared, admitted, rules_sha256, send)
    if running is None:
        return out
    perform_step(running)
    out.enqueue.extend(finish_steps(runtime, [running])[0].enqueue)
    return out


def begin_started(
    runtime: Runtime,
    prepared: Prepared,
    admitted: Admission,
    rules_sha256: str | None = None,
    send: Callable[[list[StepMessage]], None] | None = None,
) -> tuple[Outcome, Running | None]:
    """:func:`started` up to its claimed first step: the messages to send, and that step
    ready to perform (None when none was claimed, or it will not run now)."""
    event, rules, matches, verdict = (
        prepared.event,
        prepared.rules,
        prepared.matches,
        prepared.verdict,
    )
    bound = log.bind(event_id=event.event_id, source=event.source, relpath=event.relpath)
    recorded = admitted.recorded
    if not admitted.created:
        if not recorded.is_new:
            if recorded.duplicate_of is None and recorded.state == EventState.PROCESSING:
                bound.info("ingest_redelivered")  # the pipelines exist: hand out unstarted steps
                return _current_steps(runtime, event), None
            bound.info("duplicate", duplicate_of=recorded.duplicate_of, state=recorded.state)
        elif verdict.reason and verdict.reason.startswith(REFUSED):
            bound.error("ingest_refused", reason=verdict.reason, path=event.path)
        elif verdict.state == EventState.FAILED:
            bound.error("rules_unknown", rules=rules_sha256)
        else:
            bound.info("not_processed", state=verdict.state, reason=verdict.reason)
        return Outcome(), None
    assert rules is not None
    waiting = {m.route.name: m.not_before.isoformat() for m in matches if m.not_before}
    bound.debug("routed", routes=[m.route.name for m in matches], waiting=waiting or None)
    out = Outcome([ref_message(runtime, rules, ref, event) for ref in admitted.first_steps])
    claim = admitted.claimed
    if claim is None:
        return out, None
    if send is not None and out.enqueue:
        send(out.enqueue)
        out = Outcome()
    step = rules.step(claim.route, claim.position, claim.branch)
    with _step_context(claim):
        began = begin_step(runtime, rules, step, claim, prepared.owner)
    if isinstance(began, Outcome):
        out.enqueue.extend(began.enqueue)
        return out, None
    return out, began


_UNKNOWN_RULES = "unknown rules"


def _decide(
    runtime: Runtime, event: FileEvent, rules_sha256: str | None
) -> tuple[Rules | None, list[Match], Verdict]:
    """Check, re-stat and route the file: the verdict the store records with the event."""
    sources = (runtime.rules_for(rules_sha256) or runtime.rules).loaded.model.sources
    refused = refusal(sources, event)
    if refused is not None:
        return None, [], Verdict(state=EventState.FAILED.value, reason=refused)
    reason = _restat(event)
    if reason is not None:
        state = EventState.VANISHED if reason == EventState.VANISHED else EventState.SKIPPED
        return None, [], Verdict(state=state.value, reason=reason)
    rules = runtime.rules_for(rules_sha256)
    if rules is None:
        reason = f"{_UNKNOWN_RULES} {rules_sha256}"
        return None, [], Verdict(state=EventState.FAILED.value, reason=reason)
    matches = rules.router.matches(event)
    if not matches:
        return rules, [], Verdict(state=EventState.SKIPPED.value, reason="no route matched")
    plans = [_plan(rules, m) for m in matches]
    return rules, matches, Verdict(plans=plans, config_hash=rules.sha256)


def _inline_slot(
    runtime: Runtime,
    rules: Rules | None,
    matches: list[Match],
    owner: str,
    budget_s: float | None,
) -> InlineClaim | None:
    """The first step to run inside the ingest: the first route's first step, when it is due
    now and its timeout is the ingest task's time limit (within a second). A step with a
    shorter timeout goes through the broker, which gives it its own time limit: run here, it
    would be bounded by the ingest's limit instead of its own timeout."""
    if rules is None or budget_s is None or not matches or matches[0].not_before is not None:
        return None
    route = matches[0].route
    for position, branch, step, _path in step_slots(route.steps):
        timeout_s = rules.timeout_s(step)
        if not budget_s - INLINE_LIMIT_SLACK_S <= timeout_s <= budget_s:
            return None
        return InlineClaim(
            route.name, position, branch, owner, runtime.settings.lease_s, runtime.agent or None
        )
    return None


def _plan(rules: Rules, match: Match) -> RoutePlan:
    steps = []
    for position, branch, step, path in step_slots(match.route.steps):
        steps.append(
            StepPlan(
                position=position,
                branch=branch,
                name=slot_name(position, branch, step, parallel=len(path) > 1),
                action=step.action,
                max_attempts=rules.retry_policy(step).max_attempts,
                not_before=match.not_before if position == 0 else None,
            )
        )
    return RoutePlan(route=match.route.name, steps=steps)


def _current_steps(runtime: Runtime, event: FileEvent) -> Outcome:
    """Messages for the pending, unclaimed steps at each running pipeline's position."""
    out = Outcome()
    for pipeline in runtime.store.pipelines_of(event.event_id):
        if pipeline.status != PipelineStatus.RUNNING:
            continue
        for step_id in runtime.store.advance(pipeline.id).next_steps:
            out.enqueue.append(message_for(runtime, step_id, event))
    return out


def _restat(event: FileEvent) -> str | None:
    """None if the file is as detected; else why it is not processed."""
    try:
        st = os.stat(event.path)
    except FileNotFoundError:
        return EventState.VANISHED.value
    except OSError as exc:
        return f"cannot stat: {exc.strerror}"
    changed = st.st_size != event.size or st.st_mtime_ns != event.mtime_ns
    if changed or (event.ctime_ns and st.st_ctime_ns != event.ctime_ns):
        return "changed since detection (a newer event follows)"
    return None


def run_step(runtime: Runtime, step_id: int, owner: str | None = None) -> Outcome:
    """Claim a step, run its action, record the outcome, return what to enqueue next.

    The claim is a lease of ``FILERELAY_LEASE_S``, renewed while the action runs
    (:class:`~filerelay.pipeline.lease.LeaseKeeper`), whatever the step's timeout.
    """
    owner = owner or new_owner(runtime.owner_tag)
    claim = runtime.store.claim_step(
        step_id, owner, runtime.settings.lease_s, agent=runtime.agent or None
    )
    if claim is None:
        log.debug("step_not_claimable", step_id=step_id)
        return _not_due(runtime, runtime.store.step_row(step_id))
    rules, step = _claimed_slot(runtime, claim)
    with _step_context(claim):
        return _execute(runtime, rules, step, claim, owner)


def _claimed_slot(runtime: Runtime, claim: ClaimedStep) -> tuple[Rules, StepBase | None]:
    """The rules and step config of a claimed step (read from the store only for an undo or
    on_failure step)."""
    rules = runtime.rules_for(claim.config_hash)
    if rules is None:
        return runtime.rules, None
    if claim.phase == StepPhase.MAIN:
        return rules, rules.step(claim.route, claim.position, claim.branch)
    return step_slot(runtime, runtime.store.step_row(claim.step_id))


def _step_context(claim: ClaimedStep) -> Any:
    """Bind the step's identity to every log line while it runs."""
    return structlog.contextvars.bound_contextvars(
        event_id=claim.event_id,
        source=claim.event.source,
        route=claim.route,
        step=claim.name,
        attempt=claim.attempt,
    )


def _not_due(runtime: Runtime, row: RoutedStep | None) -> Outcome:
    """A step that arrived before its ``next_attempt_at`` (a time window, a clock skew, a
    long wait split into short countdowns) is sent again for later; anything else that cannot
    be claimed is a duplicate or late delivery, and is dropped."""
    if row is not None and row.status == StepStatus.SUCCEEDED:
        # a redelivery of a step that finished: its pipeline may not have advanced (the
        # store went away between the two); advancing again is idempotent
        return _advance_pipeline(runtime, row.pipeline_id, row.event_id)
    due = row.next_attempt_at if row else None
    if row is None or row.status != StepStatus.PENDING or due is None:
        return Outcome()
    if due <= datetime.now(UTC):
        return Outcome()
    msg = redrive_message(runtime, row.id)
    return Outcome([msg] if msg is not None else [])


def _execute(
    runtime: Runtime, rules: Rules, step: StepBase | None, claim: ClaimedStep, owner: str
) -> Outcome:
    began = begin_step(runtime, rules, step, claim, owner)
    if isinstance(began, Outcome):
        return began
    perform_step(began)
    return finish_steps(runtime, [began])[0]


@dataclass
class Running:
    """A claimed step past its gate, its lease renewed (:class:`LeaseKeeper` entered) until
    its outcome is recorded: :func:`begin_step`, :func:`perform_step`, :func:`finish_steps`.
    A batch performs several before recording their successes in one transaction."""

    runtime: Runtime
    rules: Rules
    step: StepBase
    claim: ClaimedStep
    owner: str
    ctx: ActionContext
    gate: Gate
    keeper: LeaseKeeper
    action: Any
    started: float = 0.0
    result: JSONDict | None = None
    error: Exception | None = None

    def concurrent(self) -> bool:
        """Whether the action may run in a thread beside others of a batch (it says so)."""
        decide = getattr(self.action, "concurrent", None)  # an Action says; a stand-in: no
        return bool(decide(self.ctx)) if decide is not None else False


def begin_step(
    runtime: Runtime, rules: Rules, step: StepBase | None, claim: ClaimedStep, owner: str
) -> Running | Outcome:
    """Check the claimed step, let it through its destination's gate and hold its lease: a
    :class:`Running` to perform, or the outcome when it will not run now."""
    if step is None or step.action != claim.action:
        error = "the rules this pipeline started with are unknown"
        return _fail(runtime, rules, claim, owner, error)
    ctx = ActionContext(
        event=claim.event,
        route=claim.route,
        step_name=claim.name,
        position=claim.position,
        attempt=claim.attempt,
        idempotency_key=claim.idempotency_key,
        timeout_s=rules.timeout_s(step),
        resources=rules.resources,
        results=claim.results,
        log=log,
        checkpoint=claim.checkpoint,
        phase=StepPhase(claim.phase),
    )
    gate = admit(runtime, rules, step, claim, owner)  # the destination's breaker, rate limit
    if gate.deferred is not None:
        return Outcome(gate.deferred)
    keeper = LeaseKeeper(runtime.store, claim.step_id, owner, runtime.settings.lease_s)
    ctx.checkpointer = lambda data: (
        keeper.held()
        and runtime.store.save_checkpoint(claim.step_id, owner, data, runtime.settings.lease_s)
    )
    ctx.stop_requested = lambda: not keeper.held()
    action = runtime.registry.get(step.action)(step.action_config, rules.resources)
    keeper.__enter__()  # renewed until the outcome is recorded (finish_steps)
    return Running(runtime, rules, step, claim, owner, ctx, gate, keeper, action)


def perform_step(running: Running) -> None:
    """Run the step's action (or compensation): its result or its exception is kept on
    ``running``; nothing is recorded yet. Safe to call from another thread."""
    running.started = time.monotonic()
    try:
        running.runtime.hooks.step_started(running.claim)
        with _step_context(running.claim), running.gate:
            running.result = _perform(running.runtime, running.action, running.ctx, running.claim)
    except Exception as exc:
        running.error = exc
    finally:
        running.action.close()


def finish_steps(runtime: Runtime, batch: list[Running]) -> list[Outcome]:
    """Record the outcomes of performed steps: the successes in one store transaction (each
    completed and its pipeline advanced, exactly as alone), a failure each as its own; the
    outcomes in the order given. A store error leaves the leases to lapse (re-driven)."""
    outcomes: dict[int, Outcome] = {}
    done = [r for r in batch if r.error is None]
    try:
        for running in batch:
            if running.error is not None:
                running.keeper.__exit__(None, None, None)
                with _step_context(running.claim):
                    outcomes[id(running)] = _on_error(
                        runtime,
                        running.rules,
                        running.claim,
                        running.owner,
                        running.step,
                        running.error,
                    )
        advances = (
            runtime.store.succeed_steps([(r.claim, r.owner, r.result or {}) for r in done])
            if done
            else []
        )
    finally:
        for running in done:
            running.keeper.__exit__(None, None, None)
    for running, adv in zip(done, advances, strict=True):
        with _step_context(running.claim):
            outcomes[id(running)] = _succeeded(running, adv)
    return [outcomes[id(r)] for r in batch]


def _succeeded(running: Running, adv: Advance | None) -> Outcome:
    runtime, claim = running.runtime, running.claim
    if adv is None:
        log.warning("step_lease_lost", reason="completed elsewhere or lease expired")
        runtime.hooks.step_finished(claim, LEASE_LOST)
        return Outcome()
    took_ms = round((time.monotonic() - running.started) * 1000, 1)
    log.debug("step_succeeded", duration_ms=took_ms)
    runtime.hooks.step_finished(claim, SUCCEEDED, running.result)
    return _advanced(runtime, running.rules, claim, adv)


def _perform(runtime: Runtime, action: Any, ctx: ActionContext, claim: ClaimedStep) -> JSONDict:
    """Run the action — or, for an undo step, compensate the step it undoes."""
    if claim.phase != StepPhase.UNDO:
        return action.run(ctx)  # type: ignore[no-any-return]
    name, result = undone_result(runtime, claim)
    action.compensate(ctx, result)
    log.warning("step_compensated", undone=name)
    return {"undone": name}


def _on_error(
    runtime: Runtime, rules: Rules, claim: ClaimedStep, owner: str, step: StepBase, exc: Exception
) -> Outcome:
    error = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, runtime.interruptions):
        error = f"interrupted: time limit ({rules.timeout_s(step):g} s) reached or worker stopping"
    elif not is_retryable(exc):
        return _fail(runtime, rules, claim, owner, error)
    elif not isinstance(exc, PermanentError) and not hasattr(exc, "retryable"):
        log.error("step_unexpected_error", error=error, exc_info=exc)
    if claim.attempt >= claim.max_attempts:
        gave_up = f"{error} (gave up after {claim.attempt} attempts)"
        return _fail(runtime, rules, claim, owner, gave_up)
    delay = backoff_s(rules.retry_policy(step), claim.attempt)
    when = datetime.now(UTC) + timedelta(seconds=delay)
    if not runtime.store.retry_step(claim.step_id, owner, error, when):
        log.warning("step_lease_lost", reason="lease expired before the retry was recorded")
        runtime.hooks.step_finished(claim, LEASE_LOST)
        return Outcome()
    log.warning("step_retry", error=error, retry_in_s=round(delay, 3))
    runtime.hooks.step_finished(claim, RETRY)
    return Outcome([step_message(rules, claim.step_id, claim.event, step, countdown=delay)])


def _fail(runtime: Runtime, rules: Rules, claim: ClaimedStep, owner: str, error: str) -> Outcome:
    """Fail the step for good; a main step's failure starts the pipeline's compensation."""
    plan = None
    if claim.phase == StepPhase.MAIN:
        plan = recovery_plan(runtime, rules, claim.pipeline_id, claim.route)
    adv = runtime.store.fail_and_advance(claim, owner, error, plan)
    if adv is None:
        return Outcome()
    log.error("step_failed", error=error, compensation_steps=len(plan or []))
    runtime.hooks.step_finished(claim, FAILED)
    return _advanced(runtime, rules, claim, adv)


def fail_poisoned(runtime: Runtime, row: PoisonedStep, error: str) -> Outcome:
    """The reconciler's poison cap: fail a step whose worker died on every attempt."""
    full = runtime.store.step_row(row.id)
    if full is None:
        return Outcome()
    plan = None
    rules = runtime.rules_for(full.config_hash) or runtime.rules
    if full.phase == StepPhase.MAIN:
        plan = recovery_plan(runtime, rules, full.pipeline_id, full.route)
    if not runtime.store.fail_poisoned(row.id, error, plan):
        return Outcome()
    return _advance_pipeline(runtime, full.pipeline_id, full.event_id)


def compensate_cancelled(runtime: Runtime, pipeline_id: int) -> Outcome:
    """Start undoing the completed steps of a pipeline cancelled with compensation, once none
    of its main steps runs any more (the reconciler's): its undo steps run as a failed
    pipeline's do (:mod:`filerelay.pipeline.compensation`); its on_failure steps do not."""
    cancels = CancelStore(runtime.store.engine)
    pipeline = cancels.pipeline(pipeline_id)
    if pipeline is None:
        return Outcome()
    rules = runtime.rules_for(pipeline.config_hash) or runtime.rules
    plan = recovery_plan(runtime, rules, pipeline_id, pipeline.route, on_failure=False)
    adv = cancels.start_compensation(pipeline_id, plan)
    if adv is None:
        return Outcome()
    log.warning(
        "cancel_compensating", pipeline_id=pipeline_id, event_id=pipeline.event_id, steps=len(plan)
    )
    return _advance_outcome(runtime, adv, pipeline.event_id)


def advance_stalled(runtime: Runtime, pipeline_id: int, event_id: str) -> Outcome:
    """Advance a pipeline whose last step finished without the advance (the reconciler's)."""
    return _advance_pipeline(runtime, pipeline_id, event_id)


def _advance_pipeline(runtime: Runtime, pipeline_id: int, event_id: str) -> Outcome:
    return _advance_outcome(runtime, runtime.store.advance(pipeline_id), event_id)


def _advance_outcome(runtime: Runtime, adv: Advance, event_id: str) -> Outcome:
    if not adv.next_steps:
        return Outcome()
    event = runtime.store.load_event(event_id)
    if event is None:
        return Outcome()
    return Outcome([message_for(runtime, step_id, event) for step_id in adv.next_steps])


def _advanced(runtime: Runtime, rules: Rules, claim: ClaimedStep, adv: Advance) -> Outcome:
    """What to send after a step ended and its pipeline advanced in the same transaction."""
    if adv.event_state and adv.event_finished_now:
        # the one INFO line a file costs (the others are DEBUG): what happened to which file
        log.info("event_finished", state=adv.event_state, relpath=claim.event.relpath)
        runtime.hooks.event_finished(claim.event, adv.event_state)
    return Outcome([ref_message(runtime, rules, ref, claim.event) for ref in adv.refs])


def discard_checkpoint(runtime: Runtime, row: RoutedStep, checkpoint: JSONDict) -> bool:
    """Let an ended step's action release what its checkpoint still holds outside filerelay
    (:meth:`Action.discard_checkpoint`; the reconciler's cleanup). True if it released
    something; a failure is logged and not retried (the row's checkpoint is cleared anyway)."""
    rules, step = step_slot(runtime, row)
    if step is None:
        return False
    try:
        action = runtime.registry.get(step.action)(step.action_config, rules.resources)
        released = action.discard_checkpoint(checkpoint)
    except Exception as exc:  # gone already, or the peer down: the next pass does not retry it
        log.warning("orphan_upload_abort_failed", step_id=row.id, error=str(exc))
        return False
    if released is None:
        return False
    log.info("orphan_upload_aborted", step_id=row.id, object=released)
    return True
