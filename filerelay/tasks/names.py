"""The names of filerelay's Celery tasks: part of the wire format (messages in flight, Flower,
``celery -A filerelay.tasks``), so they never change."""

from __future__ import annotations

INGEST = "filerelay.ingest"
INGEST_BATCH = "filerelay.ingest_batch"
STEP = "filerelay.step"
