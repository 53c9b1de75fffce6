"""The watcher: observe source trees, decide when files are completely written, emit events.

Modules, bottom up: ``filters`` (which paths), ``writers`` (/proc open-for-writing check),
``stability`` (the pure detector), ``mounts`` (observer choice), ``scan`` (the reconcile
walk), ``observers`` (the watchdog adapter), ``outbox`` (SQLite outbox + seen index),
``events`` (FileEvent building), ``publisher`` (outbox -> publish), ``source_watch`` (one
source's state) and ``service`` (:class:`Watcher`, tying them together).
"""

from filerelay.watcher.service import Watcher

__all__ = ["Watcher"]
