"""Which host runs a step: the rule behind the host queues, as one pure function.

A step that reads or changes the file (``Action.touches_file``) must run where the file is:
on the host whose watcher saw it, through that host's queue. A step that does not (a
publish, a notification, a webhook sending metadata) runs on any worker, through the shared
queue — as does every step of a source declared ``shared: true`` (storage every worker
mounts at the same path). An event recorded before the fleet carries no agent id and keeps
the shared queue, as it had.
"""

from __future__ import annotations


def step_agent(event_agent: str, touches_file: bool, shared_source: bool) -> str:
    """The agent id whose host queue runs the step, or ``""`` for the shared queue."""
    if not event_agent or shared_source or not touches_file:
        return ""
    return event_agent
