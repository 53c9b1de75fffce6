"""An in-test work publisher (a list) for the reconciler."""

from __future__ import annotations

from filerelay.model import FileEvent
from filerelay.pipeline.messages import StepMessage
from filerelay.pipeline.runner import Outcome


class ListPublisher:
    """Keeps what it is sent; its queue is always empty."""

    def __init__(self) -> None:
        self.steps: list[StepMessage] = []
        self.ingests: list[FileEvent] = []

    def enqueue(self, outcome: Outcome) -> None:
        self.steps += outcome.enqueue

    def send_ingest(self, event: FileEvent) -> None:
        self.ingests.append(event)

    def queue_depth(self) -> int:
        return 0
