"""The queue-depth history: messages waiting per broker queue, one row per queue and minute
(written by :mod:`filerelay.ops.queue_depth`'s sampler, read by the API's trend chart)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update

from filerelay.store.access import Transactions, translated
from filerelay.store.schema import queue_depths as qd


@dataclass(frozen=True)
class DepthBucket:
    """One bucket of the history: its first minute (since the epoch), the deepest total over
    every queue in one minute of it, and each queue's deepest."""

    minute: int
    total: int
    by_queue: dict[str, int]


class QueueDepthStore(Transactions):
    """The ``queue_depths`` table on one metadata database."""

    @translated
    def record(self, minute: int, depths: dict[str, int]) -> None:
        """The depth of each queue at ``minute`` (a second write of the minute replaces it)."""

        def work(conn):  # type: ignore[no-untyped-def]
            for queue, depth in sorted(depths.items()):
                key = (qd.c.queue == queue[:255]) & (qd.c.minute == minute)
                if not conn.execute(update(qd).where(key).values(depth=depth)).rowcount:
                    conn.execute(insert(qd).values(queue=queue[:255], minute=minute, depth=depth))

        self._write_racing(work)

    @translated
    def buckets(self, since_minute: int, bucket_minutes: int) -> list[DepthBucket]:
        """The history from ``since_minute`` on, in buckets of ``bucket_minutes``, oldest
        first; buckets without a sample are left out."""
        bucket = (qd.c.minute // bucket_minutes).label("bucket")
        per_queue = (
            select(bucket, qd.c.queue, func.max(qd.c.depth))
            .where(qd.c.minute >= since_minute)
            .group_by(bucket, qd.c.queue)
        )
        totals = (
            select(qd.c.minute, func.sum(qd.c.depth).label("total"))
            .where(qd.c.minute >= since_minute)
            .group_by(qd.c.minute)
            .subquery()
        )
        total_bucket = (totals.c.minute // bucket_minutes).label("bucket")
        per_total = select(total_bucket, func.max(totals.c.total)).group_by(total_bucket)
        with self._read() as conn:
            queues: dict[int, dict[str, int]] = {}
            for b, queue, depth in conn.execute(per_queue):
                queues.setdefault(int(b), {})[queue] = int(depth)
            out = [
                DepthBucket(int(b) * bucket_minutes, int(total), queues.get(int(b), {}))
                for b, total in conn.execute(per_total)
            ]
        return sorted(out, key=lambda d: d.minute)

    @translated
    def prune(self, before_minute: int) -> int:
        """Delete the samples older than ``before_minute``; how many."""
        with self._write() as conn:
            return int(conn.execute(delete(qd).where(qd.c.minute < before_minute)).rowcount or 0)
