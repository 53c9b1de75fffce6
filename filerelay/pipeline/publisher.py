"""The seam between the pipeline core and the broker: what the core needs to send work.

The reconciler re-sends step messages and ingests and asks how deep the queue is; it does so
through a :class:`WorkPublisher` handed in by its entry point, so this package never imports
Celery. :class:`filerelay.tasks.publisher.CeleryWorkPublisher` is the implementation over a
Celery app; tests of what is not about the broker pass one of their own.
"""

from __future__ import annotations

from typing import Protocol

from filerelay.model import FileEvent
from filerelay.pipeline.runner import Outcome


class WorkPublisher(Protocol):
    """Sends the pipeline's work to the workers."""

    def enqueue(self, outcome: Outcome) -> None:
        """Send the step messages ``outcome`` asks for."""

    def send_ingest(self, event: FileEvent) -> None:
        """Send ``event`` to be recorded, routed and started (as the watcher would)."""

    def queue_depth(self) -> int:
        """How many messages wait in the queue the work goes to."""
