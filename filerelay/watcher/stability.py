"""When is a file completely written? A pure detector: clock, stat and writer check injected.

A path is *pending* from its first event until it has been quiet for ``silence`` seconds: no
event, and its version ``(size, mtime_ns, inode, ctime_ns)`` sampled at the end of the window
is either the one sampled at its start, or a new one whose ctime is not later than the last
event (the change the events told us about, not one made after them: lost events or a
polling observer that has not looked yet). Then, per source:

* ``ready_marker``: its marker file exists (signal ``READY_MARKER``); no writer check, the
  marker is the producer's own statement that it is done;
* ``stable_when: silence``: nothing more (signal ``SILENCE``);
* ``stable_when: close``: no process holds it open for writing: a close-write was seen after
  its last change (``CLOSE_WRITE``), or the ``/proc`` check finds no writer (``SILENCE``). A
  writer that stays open *and idle* for ``open_timeout`` no longer holds it back (logged).
  When the check is *partial* (it could not inspect every process: another user's writer is
  invisible to it) "no writer found" is no evidence for a file seen being *written*: a modify
  event with no close-write after it. Such a file waits for its writer's close-write, which
  inotify reports for a writer of any user, or for ``open_timeout`` of quiet. A polling
  observer reports no closes at all (:attr:`StabilityDetector.close_events` is False), so there
  every event counts as a write and a file waits ``open_timeout`` unless the check is complete.

In every mode a file is held while a partial download of it exists beside it (``x.part`` for
``x``, :data:`~filerelay.watcher.filters.PARTIAL_SUFFIXES`): a browser's empty placeholder
is not a file. The watcher tells the detector about such siblings (:meth:`partial_seen`),
from events and walks, so the common case costs a set lookup, not a stat per suffix.

A file found by a walk (``touch(scan=True)``) counts as quiet since its ctime, so a file that
has not changed for ``silence`` is stable at the first poll (``SCAN``). A pending file that
vanishes is dropped silently. Symlinks and non-regular files are never stable.

Cost: ``touch`` of a known file is O(1) and pushes nothing; due times live in a heap with lazy
invalidation, so a ``poll`` with nothing due is O(1) even with 100,000 files pending. Memory:
a pending file is one slotted entry, its path and one int for its version (a start-up walk
of a big tree makes every file pending at once); a file a walk finds already quiet waits in
a compact FIFO (:mod:`~filerelay.watcher.scanqueue`), not in the heap (it is due at once),
until a poll takes it.
"""

from __future__ import annotations

import heapq
import os
import stat as stat_mod
from collections.abc import Callable, Sequence

import structlog

from filerelay.model import StableSignal
from filerelay.watcher.filters import PARTIAL_SUFFIXES
from filerelay.watcher.rules import StabilityRules, StableFile
from filerelay.watcher.scanqueue import ScanQueue
from filerelay.watcher.version import stat_version
from filerelay.watcher.writers import FileKey, ProcWriters, WriterCheck, WriterScan

StatFn = Callable[[str], os.stat_result]
Signature = int
"""``(size, mtime_ns, inode, ctime_ns)`` as one int (:func:`~.version.file_version`)."""

log = structlog.get_logger()


class _Entry:
    """Book-keeping of one pending path."""

    __slots__ = (
        "closed",
        "first_seen",
        "path",
        "quiet_since",
        "scan",
        "seq",
        "sig",
        "touched",
        "writing",
    )

    def __init__(self, path: str, sig: Signature, now: float) -> None:
        self.path = path
        self.sig = sig
        self.first_seen = now
        self.quiet_since = now  # last event or observed change
        self.closed = False  # a close-write came after the last change
        self.scan = False  # known only from a walk, no event since
        self.touched = False  # an event came since the last stat
        self.writing = False  # written (modify event) and no close-write seen since
        self.seq = 0  # sequence number of this entry's live heap item


_signature = stat_version


class StabilityDetector:
    """Tracks pending files of one source and reports those that became stable."""

    def __init__(
        self,
        rules: StabilityRules,
        *,
        clock: Callable[[], float],
        stat: StatFn = os.lstat,
        writers: WriterCheck | None = None,
        source: str = "",
        root: str = "",
    ) -> None:
        self.rules = rules
        self._clock = clock
        self._stat = stat
        self._writers: WriterCheck = writers if writers is not None else ProcWriters()
        self._source = source
        self._root = root.rstrip("/")
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, _Entry]] = []
        # found quiet by a walk, due now, in walk order; made an entry when polled
        self._due = ScanQueue()
        self._seq = 0
        self._marker_waiters: dict[str, str] = {}  # marker path -> data path
        self.close_events = True
        """Whether the observer reports close-writes (inotify); a polling one does not."""
        self._downloads: set[str] = set()  # paths with a partial download beside them

    def __len__(self) -> int:
        return len(self._entries) + len(self._due)

    def __contains__(self, path: object) -> bool:
        return path in self._entries or path in self._due

    # --- events -------------------------------------------------------------------------

    def touch(
        self,
        path: str,
        closed: bool = False,
        *,
        modified: bool = False,
        scan: bool = False,
        st: os.stat_result | None = None,
        now: float | None = None,
    ) -> None:
        """Record activity on ``path``: created, modified (``modified=True``: its data was
        written), closed after writing (``closed=True``), moved in.

        ``scan=True`` means a walk found it (no event): a file already pending is left as is,
        a new one counts as quiet since its ctime. ``st`` spares a stat when the caller has one,
        ``now`` a clock reading (a walk reads the clock once).
        """
        if now is None:
            now = self._clock()
        writing = not closed and (modified or not self.close_events)
        entry = self._entries.get(path)
        if entry is not None:
            if not scan:
                entry.quiet_since = now
                entry.touched = True
                entry.closed = closed
                entry.writing = writing or (entry.writing and not closed)
                entry.scan = False
            return
        if st is None:
            st = self._try_stat(path)
        if st is None or not stat_mod.S_ISREG(st.st_mode):
            return
        if scan:
            quiet_since = min(now, st.st_ctime_ns / 1e9)
            if quiet_since + self.rules.silence_s <= now:
                self._due.add(path, st, now)
            else:
                self._found_entry(path, st, quiet_since, now).closed = closed
            return
        entry = _Entry(path, _signature(st), now)
        entry.closed = closed
        entry.writing = writing
        self._entries[path] = entry
        self._schedule(entry, now + self.rules.silence_s)

    def found(
        self,
        prefix: str,
        names: Sequence[str],
        stats: Sequence[os.stat_result],
        now: float,
    ) -> None:
        """``touch(prefix + name, scan=True, st=st, now=now)`` for each file of one directory
        a walk found, in one call: a directory's files found quiet go to the scan queue
        together, with no path string per file (the first walk of a big tree, where every
        file is new, is this loop)."""
        entries = self._entries
        if entries:  # a file pending already is left as it is
            new = [i for i, name in enumerate(names) if prefix + name not in entries]
            if len(new) < len(names):
                names, stats = [names[i] for i in new], [stats[i] for i in new]
        silence = self.rules.silence_s
        is_reg = stat_mod.S_ISREG
        if (
            stats
            and min(now, max([st.st_ctime_ns for st in stats]) / 1e9) + silence <= now
            and all(map(is_reg, [st.st_mode for st in stats]))
        ):
            self._due.add_dir(prefix, names, stats, now)  # the common case: all quiet already
            return
        due_names: list[str] = []
        due_stats: list[os.stat_result] = []
        for name, st in zip(names, stats, strict=True):
            if not is_reg(st.st_mode):
                continue
            quiet_since = min(now, st.st_ctime_ns / 1e9)
            if quiet_since + silence <= now:
                due_names.append(name)
                due_stats.append(st)
            else:
                self._found_entry(prefix + name, st, quiet_since, now)
        self._due.add_dir(prefix, due_names, due_stats, now)

    def _found_entry(self, path: str, st: os.stat_result, quiet_since: float, now: float) -> _Entry:
        """A file a walk found, not quiet for the window yet: pending, quiet since its ctime."""
        entry = _Entry(path, _signature(st), now)
        entry.scan = True
        entry.quiet_since = quiet_since
        self._entries[path] = entry
        self._schedule(entry, quiet_since + self.rules.silence_s)
        return entry

    def forget(self, path: str) -> None:
        """Drop ``path`` (deleted, or moved away)."""
        if self._entries.pop(path, None) is not None and self.rules.ready_marker is not None:
            self._marker_waiters.pop(self.rules.ready_marker.path_for(path), None)

    def forget_tree(self, dir_path: str) -> int:
        """Drop every pending path under ``dir_path`` (a directory moved away); O(pending)."""
        prefix = dir_path.rstrip("/") + "/"
        gone = [p for p in self._entries if p.startswith(prefix)]
        for path in gone:
            self.forget(path)
        return len(gone)

    def partial_seen(self, path: str) -> None:
        """A partial download of ``path`` (``path + '.part'``...) exists: hold ``path``."""
        self._downloads.add(path)

    def partial_gone(self, path: str) -> None:
        """The partial download of ``path`` was deleted or renamed."""
        self._downloads.discard(path)

    def marker_appeared(self, marker_path: str) -> None:
        """A file with a marker's name appeared: look at its data file at the next poll."""
        data_path = self._marker_waiters.get(marker_path)
        entry = self._entries.get(data_path) if data_path is not None else None
        if entry is not None:
            self._schedule(entry, self._clock())

    def requeue(self, stable: StableFile, delay_s: float) -> None:
        """Put back a file reported stable but not taken (outbox full): report it again later."""
        if stable.path in self._entries:
            return
        now = self._clock()
        entry = _Entry(stable.path, _signature(stable.stat), stable.pending_since)
        entry.closed = stable.signal is StableSignal.CLOSE_WRITE
        entry.scan = stable.signal is StableSignal.SCAN
        entry.quiet_since = now + delay_s - self.rules.silence_s
        self._entries[stable.path] = entry
        self._schedule(entry, now + delay_s)

    # --- polling ------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """Clock time of the earliest scheduled check (may be a stale one), or None."""
        if self._due:
            return self._clock()
        return self._heap[0][0] if self._heap else None

    def poll(self, limit: int | None = None) -> list[StableFile]:
        """Files that became stable since the last poll; at most ``limit`` files examined."""
        now = self._clock()
        quiet: list[tuple[_Entry, os.stat_result]] = []
        cap = limit if limit is not None else len(self)
        while self._due and len(quiet) < cap:
            found = self._due.pop()
            assert found is not None
            path, sig, quiet_since, found_at = found
            if path in self._entries:
                continue  # an event since (or an earlier walk's item) made it an entry
            entry = self._entries[path] = _Entry(path, sig, found_at)
            entry.scan, entry.quiet_since = True, quiet_since
            self._take_if_quiet(entry, now, quiet)
        while self._heap and self._heap[0][0] <= now and len(quiet) < cap:
            _due, seq, entry = heapq.heappop(self._heap)
            if self._entries.get(entry.path) is entry and entry.seq == seq:
                self._take_if_quiet(entry, now, quiet)
            # else: forgotten or rescheduled since
        stable = self._settle(quiet, now)
        if not self._entries:
            self._entries = {}  # a dict never shrinks: drop the table a burst grew
        return stable

    def _take_if_quiet(
        self, entry: _Entry, now: float, quiet: list[tuple[_Entry, os.stat_result]]
    ) -> None:
        st = self._check_quiet(entry, now)
        if st is not None:
            quiet.append((entry, st))

    def _check_quiet(self, entry: _Entry, now: float) -> os.stat_result | None:
        """The file's stat if it has been quiet for the window; else reschedule or drop it."""
        due = entry.quiet_since + self.rules.silence_s
        if due > now:
            self._schedule(entry, due)  # touched since it was scheduled
            return None
        try:
            st = self._stat(entry.path)
        except (FileNotFoundError, NotADirectoryError):
            self._entries.pop(entry.path, None)  # vanished: nothing to report
            return None
        except OSError as exc:
            log.warning("stability.stat_failed", **self._where(entry.path), error=str(exc))
            self._schedule(entry, now + self.rules.recheck_s)
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            self._entries.pop(entry.path, None)
            return None
        sig = _signature(st)
        explained = entry.touched and st.st_ctime_ns <= entry.quiet_since * 1e9
        entry.touched = False
        if sig != entry.sig:
            entry.sig = sig
            if not explained:
                # changed after the last event we got: restart the window, a close is stale
                entry.quiet_since, entry.closed, entry.scan = now, False, False
                self._schedule(entry, now + self.rules.silence_s)
                return None
        return st

    def _settle(self, quiet: list[tuple[_Entry, os.stat_result]], now: float) -> list[StableFile]:
        """Apply the marker / writer rules to quiet files; report the stable ones."""
        rules = self.rules
        if self._downloads:
            quiet = [(e, st) for e, st in quiet if not self._downloading(e, now)]
        if not quiet:
            return []
        if rules.ready_marker is not None:
            return [
                self._done(e, st, StableSignal.READY_MARKER)
                for e, st in quiet
                if self._marked(e, now)
            ]
        if rules.stable_when == "silence":
            return [self._done(e, st, self._quiet_signal(e)) for e, st in quiet]
        done = [self._done(e, st, StableSignal.CLOSE_WRITE) for e, st in quiet if e.closed]
        unsure = [(e, st) for e, st in quiet if not e.closed]
        scan = self._writers({_key(st) for _e, st in unsure}) if unsure else WriterScan()
        for entry, st in unsure:
            why = self._held_by(entry, st, scan)
            if why is None:
                done.append(self._done(entry, st, self._quiet_signal(entry)))
            elif now - entry.quiet_since >= rules.open_timeout_s:
                self._log_timeout(entry, why, now)
                done.append(self._done(entry, st, StableSignal.SILENCE))
            else:
                self._schedule(entry, now + rules.recheck_s)
        return done

    def _held_by(self, entry: _Entry, st: os.stat_result, scan: WriterScan) -> str | None:
        """Why a quiet file not closed is not stable yet; None if it is."""
        if _key(st) in scan.held:
            return "writer"
        if entry.writing and not scan.complete:
            return "blind"  # written, no close-write since, and the check cannot see everyone
        return None

    def _log_timeout(self, entry: _Entry, why: str, now: float) -> None:
        fields = {
            **self._where(entry.path),
            "idle_s": round(now - entry.quiet_since, 1),
            "open_timeout_s": self.rules.open_timeout_s,
        }
        if why == "writer":
            effect = "still open for writing but idle too long; taking it anyway"
            log.warning("stability.open_timeout", **fields, effect=effect)
        elif self.close_events:
            effect = "no close-write came and the writer check is partial; taking it anyway"
            log.warning("stability.open_timeout", **fields, effect=effect)
        else:  # polling, partial check: the expected way a file becomes stable
            log.debug("stability.open_timeout", **fields, effect="quiet for open_timeout")

    def _downloading(self, entry: _Entry, now: float) -> bool:
        """Whether a partial download of the entry exists (then it waits for it, at most
        ``open_timeout``); a sibling gone without its event is noticed here."""
        if entry.path not in self._downloads:
            return False
        if all(self._try_stat(entry.path + suffix) is None for suffix in PARTIAL_SUFFIXES):
            self._downloads.discard(entry.path)
            return False
        if now - entry.quiet_since >= self.rules.open_timeout_s:
            log.warning(
                "stability.open_timeout",
                **self._where(entry.path),
                idle_s=round(now - entry.quiet_since, 1),
                open_timeout_s=self.rules.open_timeout_s,
                effect="a partial download of it is still there; taking it anyway",
            )
            return False
        self._schedule(entry, now + self.rules.recheck_s)
        return True

    def _marked(self, entry: _Entry, now: float) -> bool:
        """Whether the entry's marker exists; if not, wait for it (indexed for marker_appeared)."""
        assert self.rules.ready_marker is not None
        marker = self.rules.ready_marker.path_for(entry.path)
        if self._try_stat(marker) is not None:
            self._marker_waiters.pop(marker, None)
            return True
        self._marker_waiters[marker] = entry.path
        self._schedule(entry, now + self.rules.recheck_s)
        return False

    # --- helpers ------------------------------------------------------------------------

    def _done(self, entry: _Entry, st: os.stat_result, signal: StableSignal) -> StableFile:
        del self._entries[entry.path]
        return StableFile(entry.path, st, signal, entry.first_seen)

    @staticmethod
    def _quiet_signal(entry: _Entry) -> StableSignal:
        return StableSignal.SCAN if entry.scan else StableSignal.SILENCE

    def _schedule(self, entry: _Entry, due: float) -> None:
        self._seq += 1
        entry.seq = self._seq
        heapq.heappush(self._heap, (due, self._seq, entry))

    def _try_stat(self, path: str) -> os.stat_result | None:
        try:
            return self._stat(path)
        except OSError:
            return None

    def _where(self, path: str) -> dict[str, str]:
        relpath = (
            path[len(self._root) + 1 :]
            if self._root and path.startswith(self._root + "/")
            else path
        )
        return {"source": self._source, "relpath": relpath}


def _key(st: os.stat_result) -> FileKey:
    return (st.st_dev, st.st_ino)
