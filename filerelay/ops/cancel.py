"""Cancel a queued or running pipeline (``filerelay cancel``, ``POST pipelines/{id}/cancel``).

Pending steps become ``cancelled`` at once and the pipeline ``failed`` with the reason; a
step running at that moment learns it when its worker next renews the step's lease (a third
of ``FILERELAY_LEASE_S``), and stops at its next checkpoint — between parts of an upload,
between retries; a script gets SIGTERM.

With ``compensate``, the steps that completed are undone too, as a failed pipeline's are
(each action's ``compensate``: the uploaded object deleted, the moved file moved back): the
pipeline is ``compensating`` until then; once the running step stopped, the reconciler (within
``FILERELAY_RECONCILE_INTERVAL_S``) adds the undo steps, the workers run them, and the
pipeline ends ``failed`` with the cancel's reason (``compensation_failed`` if an undo failed).
The route's ``on_failure`` steps do not run for a cancel.
"""

from __future__ import annotations

from dataclasses import dataclass

from filerelay.errors import ConflictError, NotFoundError
from filerelay.ops.audit import Actor, audited
from filerelay.ops.inputs import is_event_id
from filerelay.store import Store
from filerelay.store.admin import ControlStore


@dataclass(frozen=True)
class Cancelled:
    """A cancelled pipeline and how many of its steps were running (told to stop)."""

    pipeline_id: int
    event_id: str
    running_steps: int
    compensate: bool = False


def cancel(
    store: Store, control: ControlStore, actor: Actor, pipeline_id: int, compensate: bool = False
) -> Cancelled:
    """Cancel one pipeline (undoing its completed steps with ``compensate``);
    :class:`NotFoundError` / :class:`ConflictError` (finished)."""
    found = [p for p in _pipelines_of_id(store, pipeline_id)]
    if not found:
        raise NotFoundError(f"no pipeline {pipeline_id}")
    params = {"compensate": compensate}
    with audited(control, actor, "cancel", f"pipeline {pipeline_id}", params):
        reason = f"cancelled by {actor.name}"
        done, running = control.cancel_pipeline(pipeline_id, reason, compensate)
        if not done:
            raise ConflictError(f"pipeline {pipeline_id} is not running: nothing to cancel")
    return Cancelled(pipeline_id, found[0], running, compensate)


def cancel_event(
    store: Store, control: ControlStore, actor: Actor, event_id: str, compensate: bool = False
) -> list[Cancelled]:
    """Cancel every running pipeline of an event (the CLI's form)."""
    if not is_event_id(event_id) or store.get_event(event_id) is None:
        raise NotFoundError(f"no event {event_id}")
    running = [p.id for p in store.pipelines_of(event_id) if p.status == "running"]
    if not running:
        raise ConflictError(f"event {event_id} has no running pipeline")
    return [cancel(store, control, actor, pid, compensate) for pid in running]


def _pipelines_of_id(store: Store, pipeline_id: int) -> list[str]:
    """[the event id] of the pipeline, or [] when there is none."""
    steps = store.steps_of(pipeline_id)
    if not steps:
        return []
    routed = store.step_row(steps[0].id)
    return [routed.event_id] if routed else []
