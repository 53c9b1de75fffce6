"""``filerelay reprocess`` and ``filerelay submit``: put files through the routes again.

Reprocess moves a ``failed`` event back to ``queued`` and publishes its ingest task; the
worker then creates a new run of its pipelines (run 2, 3, …) with the current rules, or the
rules the last run used (``same_rules``). ``force`` also takes finished events that are not
failed (succeeded, duplicate, vanished, skipped): they cannot go back to ``queued``, so each
becomes a new event for the same file version whose dedup key is suffixed with the new id —
the dedup record of the old one no longer applies. Submit does the same for files on disk.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from celery import Celery

from filerelay import safefs
from filerelay.errors import ActionError, FileVanishedError, UsageError
from filerelay.model import (
    EventState,
    FileEvent,
    StableSignal,
    content_dedup_key,
    new_event_id,
    stat_event,
)
from filerelay.ops.events import find_events
from filerelay.ops.inputs import is_event_id
from filerelay.ops.paths import absolute, locate
from filerelay.store import Store
from filerelay.store.listing import Cursor, EventFilter
from filerelay.store.rows import EventRow
from filerelay.store.schema import DEDUP_KEY_LEN
from filerelay.tasks.publisher import send_ingest

log = structlog.get_logger("filerelay.ops")

SELECT_BATCH = 500
Progress = Callable[[int], None]


@dataclass
class Outcome:
    """What a reprocess did (or, dry, would do)."""

    requeued: list[str] = field(default_factory=list)  # failed events, run again in place
    renewed: list[tuple[str, str]] = field(default_factory=list)  # (old id, new id), --force
    left: list[tuple[str, str]] = field(default_factory=list)  # (id, why not)

    @property
    def queued(self) -> int:
        return len(self.requeued) + len(self.renewed)


def manual_dedup_key(key: str, event_id: str) -> str:
    """A dedup key no earlier version holds: ``key`` suffixed with the new event's id."""
    suffixed = f"{key}:manual:{event_id}"
    if len(suffixed) <= DEDUP_KEY_LEN:
        return suffixed
    return f"manual:{hashlib.sha256(key.encode()).hexdigest()}:{event_id}"


def renewed(event: FileEvent) -> FileEvent:
    """A new event for the same file version, outside the dedup record."""
    event_id = new_event_id()
    return event.model_copy(
        update={
            "event_id": event_id,
            "dedup_key": manual_dedup_key(event.dedup_key, event_id),
            "stable_signal": StableSignal.MANUAL,
        }
    )


def select(
    store: Store, refs: list[str], flt: EventFilter | None, sources: list[Any] | None
) -> Iterator[EventRow]:
    """The event rows to reprocess: the given ids and paths (a path's latest version), or
    every event matching ``flt``. A path outside every configured source is refused."""
    if refs and flt is not None:
        raise UsageError("give event ids or paths, or --state with filters, not both")
    if not refs and flt is None:
        raise UsageError("nothing selected: give event ids, paths, or --state failed")
    if flt is not None:
        yield from _matching(store, flt)
        return
    rows = []
    for ref in refs:
        if not is_event_id(ref):
            if sources is None:
                raise UsageError(f"{ref}: a path needs the config (--config) to find its source")
            locate(sources, absolute(ref))  # refuses a path outside every source
        rows.append(find_events(store, ref)[-1])
    yield from rows


def _matching(store: Store, flt: EventFilter) -> Iterator[EventRow]:
    """Every event matching ``flt``, page by page (the oldest page last; nothing skipped
    while rows change state underneath, as the cursor is on creation time)."""
    cursor = None
    while True:
        page = store.list_page(flt, SELECT_BATCH, cursor)
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = Cursor.decode(page.next_cursor)


def plan(rows: Iterable[EventRow], force: bool) -> tuple[list[EventRow], Outcome]:
    """Split rows into those to queue and those left alone (with why)."""
    take: list[EventRow] = []
    out = Outcome()
    for row in rows:
        state = row.state
        if state == EventState.FAILED or (force and state in _FORCEABLE):
            take.append(row)
        elif state in _FORCEABLE:
            out.left.append((row.id, f"{state} (use --force to run it again)"))
        else:
            out.left.append((row.id, f"{state}: still in progress"))
    return take, out


_FORCEABLE = {EventState.SUCCEEDED, EventState.DUPLICATE, EventState.VANISHED, EventState.SKIPPED}


def reprocess(
    store: Store,
    app: Celery,
    queue: str,
    rows: list[EventRow],
    out: Outcome,
    *,
    same_rules: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    """Queue every row of ``rows`` (from :func:`plan`) and publish its ingest task."""
    with app.producer_or_acquire() as producer:
        for row in rows:
            rules = store.last_config_hash(row.id) if same_rules else None
            event = row.to_event()
            if row.state == EventState.FAILED:
                _requeue(store, app, queue, producer, event, rules, out)
            else:
                fresh = renewed(event)
                send_ingest(app, fresh, queue, producer=producer, rules=rules)
                out.renewed.append((event.event_id, fresh.event_id))
            if progress is not None:
                progress(1)
    log.info("reprocess_queued", requeued=len(out.requeued), renewed=len(out.renewed))
    return out


def _requeue(
    store: Store,
    app: Celery,
    queue: str,
    producer: Any,
    event: FileEvent,
    rules: str | None,
    out: Outcome,
) -> None:
    """failed → queued, then publish; a publish that fails puts the event back to failed."""
    if not store.set_event_state(event.event_id, EventState.QUEUED):
        out.left.append((event.event_id, "changed meanwhile"))
        return
    try:
        send_ingest(app, event, queue, producer=producer, rules=rules)
    except Exception as exc:
        store.set_event_state(event.event_id, EventState.FAILED, f"reprocess not sent: {exc}")
        raise
    out.requeued.append(event.event_id)


# --- submit -------------------------------------------------------------------------------


def submitted_event(sources: list[Any], path: str) -> FileEvent:
    """The event of a file an operator submits: a new pipeline even if unchanged.

    The file is opened as a worker would open it (:mod:`filerelay.safefs`): a symbolic link
    at any component below the source root, or anything but a regular file, is refused, and
    the event describes the file actually opened (and hashed, for ``dedup: content``)."""
    source, relpath = locate(sources, path)
    full = absolute(path)
    root = full[: -len(relpath) - 1]
    try:
        with safefs.open_file(root, relpath.split("/")) as opened:
            st = opened.stat
            digest = opened.sha256() if source.dedup == "content" else None
    except FileVanishedError:
        raise UsageError(f"{path}: No such file or directory") from None
    except ActionError as exc:
        raise UsageError(f"{path}: {exc}") from None
    event_id = new_event_id()
    event = stat_event(
        source.name,
        full,
        relpath,
        st,
        signal=StableSignal.MANUAL,
        tags=source.tags,
        host=socket.gethostname(),
        dedup_key=content_dedup_key(source.name, digest) if digest is not None else None,
        sha256=digest,
        event_id=event_id,
    )
    return event.model_copy(update={"dedup_key": manual_dedup_key(event.dedup_key, event_id)})


def submit(app: Celery, queue: str, events: list[FileEvent], agent: str = "") -> None:
    """Publish the submitted files' ingest tasks; ``agent``: the id of this host, which sees
    the files (their steps that read them run here)."""
    with app.producer_or_acquire() as producer:
        for event in events:
            if agent and not event.agent:
                event = event.model_copy(update={"agent": agent})
            send_ingest(app, event, queue, producer=producer)
    log.info("submitted", files=len(events))
