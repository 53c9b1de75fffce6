"""The metadata store: the source of truth of delivery ("the store holds the truth, Celery
carries the work").

- :mod:`~filerelay.store.db` — engines per database, the UTC timestamp type
- :mod:`~filerelay.store.schema` — the tables; :mod:`~filerelay.store.migrate` — their
  migrations (``migrations/``)
- :mod:`~filerelay.store.states` — the state machines of events, pipelines and steps
- :mod:`~filerelay.store.access` — short transactions and translated errors, shared by
  the facades :class:`Store` and the alert evaluator's
  :class:`~filerelay.alerting.repo.AlertStore`
- :mod:`~filerelay.store.records` — what the store takes (plans, verdicts) and answers
  (claims, advances); :mod:`~filerelay.store.rows` — the rows it reads back, typed
- :mod:`~filerelay.store.repo` — :class:`Store`, built on the queries in
  :mod:`~filerelay.store.events`, :mod:`~filerelay.store.pipelines` and
  :mod:`~filerelay.store.steps`
"""

from filerelay.store.db import make_engine
from filerelay.store.migrate import ensure_schema
from filerelay.store.records import (
    Admission,
    Advance,
    ClaimedStep,
    InlineClaim,
    RecordedEvent,
    RoutePlan,
    StepPlan,
    StepRef,
    Verdict,
)
from filerelay.store.repo import Store

__all__ = [
    "Admission",
    "Advance",
    "ClaimedStep",
    "InlineClaim",
    "RecordedEvent",
    "RoutePlan",
    "StepPlan",
    "StepRef",
    "Store",
    "Verdict",
    "ensure_schema",
    "make_engine",
]
