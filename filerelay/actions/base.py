"""The action contract: a config model plus ``run(ctx) -> result``; undo and checks optional.

An action never imports Celery or the store. It gets everything through :class:`ActionContext`
and :class:`Resources`, raises :class:`~filerelay.errors.RetryableError` or
:class:`~filerelay.errors.PermanentError` (translating SDK exceptions at its edge), and must be
idempotent under ``ctx.idempotency_key``: running it twice has the effect of running it once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import structlog
from pydantic import BaseModel

from filerelay import safefs
from filerelay.errors import PermanentError, RetryableError, RoutingError
from filerelay.model import FileEvent, JSONDict, StepPhase
from filerelay.safefs import Identity, SourceFile
from filerelay.templates import Template, file_values

ConfigT = TypeVar("ConfigT", bound=BaseModel)


class ClientCache:
    """Per-process cache of SDK clients (boto3, pika, ...), built once per key and reused.

    Thread-safe; ``close()`` releases every client that has a ``close`` method.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[Any, Any] = {}

    def get(self, key: Any, factory: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._clients:
                self._clients[key] = factory()
            return self._clients[key]

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            close = getattr(client, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # closing is best effort
                    structlog.get_logger().warning("client_close_failed", exc_info=True)


@dataclass
class Resources:
    """What actions share within one worker process: named connections and pooled clients."""

    connections: Mapping[str, BaseModel] = field(default_factory=dict)
    clients: ClientCache = field(default_factory=ClientCache)

    def connection(self, name: str) -> BaseModel:
        try:
            return self.connections[name]
        except KeyError:
            raise PermanentError(f"unknown connection {name!r}") from None


@dataclass
class ActionContext:
    """Everything one step run may use. Built by the runner for each attempt."""

    event: FileEvent
    route: str
    step_name: str
    position: int
    attempt: int
    idempotency_key: str
    timeout_s: float
    resources: Resources
    results: Mapping[str, JSONDict] = field(default_factory=dict)
    log: Any = field(default_factory=structlog.get_logger)
    checkpoint: JSONDict | None = None  # what an earlier attempt saved with save_checkpoint
    phase: StepPhase = StepPhase.MAIN  # why the step runs: a main, undo or on_failure step
    checkpointer: Callable[[JSONDict], bool] | None = field(default=None, repr=False)
    #: True once the step must stop (its pipeline was cancelled, or its lease lost): a
    #: long-running action (a script) checks it while it waits
    stop_requested: Callable[[], bool] = field(default=lambda: False, repr=False)
    _sha256: str | None = field(default=None, repr=False)

    def save_checkpoint(self, data: JSONDict) -> None:
        """Persist progress (JSON) so a later attempt can resume; also renews the lease.

        Raises RetryableError when this attempt lost its lease (another worker owns the step
        now): the action must stop.
        """
        if self.checkpointer is not None and not self.checkpointer(data):
            raise RetryableError("this attempt lost its lease; stopping")

    @property
    def path(self) -> str:
        """The file's path, for messages and templates; read it through :meth:`open_source`."""
        return self.event.path

    def identity(self) -> Identity:
        """What the detected file was. A main step wants exactly that file; an on_failure step
        accepts a file put back by a compensation (a new inode with one link)."""
        ev = self.event
        strict = self.phase != StepPhase.ON_FAILURE
        return Identity(ev.size, ev.mtime_ns, ev.inode, ev.device, ev.ctime_ns, strict=strict)

    def source_root(self) -> tuple[str, list[str]]:
        """The source root and the file's path components below it."""
        return safefs.split_source(self.event.path, self.event.relpath)

    def open_source(self) -> SourceFile:
        """The file, opened without following a link at any component below its source root,
        checked to be a regular file and the very file detected (:mod:`filerelay.safefs`).
        Raises FileVanishedError, UnsafeFileError (a link, FIFO, ...) or PermanentError
        (another file, or changed). Close it when done (it is a context manager)."""
        root, parts = self.source_root()
        return safefs.open_file(root, parts, self.identity())

    def check_unchanged(self) -> None:
        """Raise if the file vanished, changed or was swapped since it was declared stable."""
        self.open_source().close()

    def sha256(self) -> str:
        """SHA-256 of the file, computed once per context (or taken from the event)."""
        if self._sha256 is None:
            if self.event.sha256:
                self._sha256 = self.event.sha256
            else:
                with self.open_source() as source:
                    self._sha256 = hash_file(source)
        return self._sha256

    def set_sha256(self, digest: str) -> None:
        """Record a digest computed while streaming the file, so nobody hashes it again."""
        self._sha256 = digest

    def template_values(self) -> dict[str, Any]:
        ev = self.event
        return file_values(
            source=ev.source,
            relpath=ev.relpath,
            path=os.path.abspath(ev.path),  # never starts with '-': safe in an argv
            size=ev.size,
            mtime_ns=ev.mtime_ns,
            detected_at=ev.detected_at,
            event_id=ev.event_id,
            dedup_key=ev.dedup_key,
            host=ev.host,
            agent=ev.agent,
            route=self.route,
            sha256=self._sha256 or ev.sha256,
            tags=ev.tags,
            steps=self.results,
        )

    def render(
        self,
        template: str,
        what: str | None = None,
        encode: Callable[[str, str], str] | None = None,
    ) -> str:
        """Render a config template for this file (hashing it first if the template needs it);
        ``encode`` transforms each inserted value (see :meth:`Template.render`).

        A template that cannot be rendered for this file (a field with no value here) fails
        the step for good: PermanentError, its message prefixed with ``what`` when given.
        """
        tpl = Template.parse(template)
        if tpl.needs_sha256:
            self.sha256()
        try:
            return tpl.render(self.template_values(), encode)
        except RoutingError as exc:
            raise PermanentError(f"{what}: {exc}" if what else str(exc)) from exc


def templates_need_sha256(config: Any) -> bool:
    """True if a string in ``config`` (a pydantic model, mapping or list) is a template
    using ``{sha256}`` (rendering it hashes the file)."""
    if isinstance(config, BaseModel):
        config = config.model_dump(mode="python")
    if isinstance(config, dict):
        return any(templates_need_sha256(v) for v in config.values())
    if isinstance(config, list | tuple):
        return any(templates_need_sha256(v) for v in config)
    if isinstance(config, str) and "sha256" in config:
        try:
            return Template.parse(config).needs_sha256
        except Exception:  # not a template: it hashes nothing
            return False
    return False


def hash_file(source: SourceFile) -> str:
    """SHA-256 hex of an opened file (one seam, so tests can see a second read)."""
    return source.sha256()


class Action(Generic[ConfigT]):
    """Base class of every action. Subclasses set ``name`` and ``Config`` and implement ``run``.

    ``connection_type``: when set, the config's ``connection`` field must name a connection of
    that type, or of one of those types when it is a tuple (checked when the config loads).
    """

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]]
    connection_type: ClassVar[str | tuple[str, ...] | None] = None
    #: Whether a run reads or changes the file itself. In a fleet such a step runs only on
    #: the host whose watcher saw the file (its host queue); one that does not runs on any
    #: worker (the shared queue). True unless an action says otherwise: a third-party action
    #: that does not say is kept on the file's host, which is always safe.
    reads_file: ClassVar[bool] = True

    @classmethod
    def touches_file(cls, config: Any) -> bool:
        """Whether a step with this config reads or changes the file: ``reads_file``, or a
        template that needs the file's SHA-256 (which hashes it); actions whose config
        decides (a webhook that uploads the file) refine it."""
        return cls.reads_file or templates_need_sha256(config)

    def __init__(self, config: ConfigT, resources: Resources) -> None:
        self.config = config
        self.resources = resources

    def run(self, ctx: ActionContext) -> JSONDict:
        """Do the effect, idempotently; return a JSON-ready result for later steps."""
        raise NotImplementedError

    def compensate(self, ctx: ActionContext, result: JSONDict) -> None:
        """Undo a completed run (default: nothing to undo)."""

    def can_compensate(self) -> bool:
        """Whether :meth:`compensate` does anything for this config (an undo step is planned
        only then). Default: the class overrides ``compensate``."""
        return type(self).compensate is not Action.compensate

    def discard_checkpoint(self, checkpoint: JSONDict) -> str | None:
        """Release what an ended step's checkpoint still holds outside filerelay (the ``s3``
        action: a multipart upload whose stored parts cost money), once no attempt will resume
        it. Called by the reconciler; an exception is logged there and not retried. Returns
        what was released, for the log, or None when nothing was held. Default: nothing."""
        return None

    def concurrent(self, ctx: ActionContext) -> bool:
        """Whether this run may go in a thread beside other steps of an ingest batch
        (:mod:`filerelay.tasks.batch`): thread-safe, and mostly waiting on a peer. There it
        takes no time-limit signal: its own timeouts must bound it. Default: False."""
        return False

    def prepare(self) -> None:
        """Build what a first run would otherwise build (an SDK client in Resources), so that
        the first file through a fresh worker process does not pay for it. Called once per
        worker process at its start; a failure there is logged and the run builds it later.
        Default: nothing."""

    def close(self) -> None:
        """Release what this instance holds (pooled clients live in Resources)."""
