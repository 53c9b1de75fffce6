"""Logging: structlog key=value (``console``) or JSON lines (``json``), one event per line.

:func:`configure_logging` is called once by each entry point; the stdlib root logger gets the
same formatter, so Celery's, kombu's and watchdog's own records come out in the same format,
tracebacks included (rendered into the event's ``exception`` field, never as raw lines).

Context (``event_id``, ``source``, ``route``, ``step``, ``attempt``) is bound with
``structlog.contextvars`` by the task layer and the runner and appears on every line of a
pipeline; Celery's own task lines get ``task_id``, ``event_id`` and ``source`` from the task's
arguments (:func:`celery_task_fields`), since the worker's main process logs "received".

Secrets never reach the output: the last processor before the renderer masks values of
secret-named keys and every known secret value in any string field (exception text too), and
passwords in URLs. The secret values are registered per process when the settings and the
config are loaded (:func:`register_secrets`), on top of the environment's credentials; the
store masks the same values (:func:`filerelay.redaction.process_redactor`).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import structlog
from billiard.exceptions import WorkerLostError
from structlog.typing import EventDict

from filerelay.redaction import MASK, Redactor, is_secret_key, process_redactor

NOISY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "watchdog", "kombu", "amqp")
#: Libraries' start-up and per-task lines (alembic's "Context impl", Celery's "Task …
#: received/succeeded", "Connected to", "ready."): shown only at DEBUG, so that a file costs
#: one INFO line (``event_finished``) and a process starts with one (``*_ready``).
QUIET_BELOW_DEBUG = (
    "alembic",
    "celery.worker.strategy",
    "celery.app.trace",
    "celery.worker.consumer.connection",
    "celery.worker.consumer.mingle",
    "celery.apps.worker",
)
#: kombu warns on every connection to the embedded transport, whose URL has no host.
_DROPPED = ("No hostname was supplied",)
_CELERY_LABEL = re.compile(r"\b(event_id|source)['\"]?\s*[=:]\s*['\"]?([^\s'\",}\]]+)")


def register_secrets(values: Iterable[str]) -> None:
    """Mask these values in every log line of this process from now on."""
    process_redactor().add(values)


class RedactSecrets:
    """Processor: secret-named keys become ``***``; in every other string, at any depth,
    known secret values and URL passwords become ``***``. Other objects are rendered with
    ``repr`` first (as the renderers would), so their text is redacted too."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def __call__(self, _logger: Any, _name: str, event_dict: EventDict) -> EventDict:
        return {key: self._clean(key, value) for key, value in event_dict.items()}

    def _clean(self, key: str, value: Any) -> Any:
        if key and is_secret_key(key):
            return MASK
        if isinstance(value, str):
            return self.redactor.redact(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean("", v) for v in value]
        return self.redactor.redact(repr(value))


def celery_task_fields(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    """Foreign-record processor: Celery's task lines ("received", "succeeded", "retry")
    carry the task's data in ``record.data``; add ``task_id`` and the ``event_id`` and
    ``source`` labels found in the task's arguments (bound context wins)."""
    data = getattr(event_dict.get("_record"), "data", None)
    if not isinstance(data, dict) or "id" not in data:
        return event_dict
    event_dict.setdefault("task_id", data["id"])
    for part in (data.get("args"), data.get("kwargs")):
        if part:
            for label, value in _CELERY_LABEL.findall(str(part)):
                event_dict.setdefault(label, value)
    return event_dict


def worker_lost_as_line(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    """Foreign-record processor: Celery's "Task handler raised error: WorkerLostError" (a pool
    process killed under a step: the stop window's end, a SIGTERM sent to the whole process
    group, the OOM killer) is one ``task_worker_lost`` warning, not a traceback. Its message
    goes back to the queue (``task_reject_on_worker_lost``), so nothing is lost to report."""
    exc_info = event_dict.get("exc_info")
    if not (isinstance(exc_info, tuple) and exc_info[0] is WorkerLostError):
        return event_dict
    del event_dict["exc_info"]
    exc = getattr(exc_info[1], "exc", exc_info[1])  # billiard wraps it with its traceback text
    reason = str(exc).removeprefix("Worker exited prematurely: ").rstrip(".")
    event_dict.update(event="task_worker_lost", level="warning", reason=reason, requeued=True)
    return event_dict


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger for this process."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        # a line below the logger's level is dropped before any processor runs (else every
        # DEBUG call pays for the context, the timestamp and the record it then discards)
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = _formatter(fmt, shared)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # loggers that do not propagate and have no handler (billiard's "multiprocessing": "Process
    # 'ForkPoolWorker-1' exited with ...") end at logging.lastResort, a bare-message handler
    last_resort = logging.StreamHandler(sys.stderr)
    last_resort.setLevel(logging.WARNING)
    last_resort.setFormatter(formatter)
    logging.lastResort = last_resort
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for quiet in QUIET_BELOW_DEBUG:
        logging.getLogger(quiet).setLevel(
            "DEBUG" if level == "DEBUG" else max(logging.WARNING, logging.getLevelName(level))
        )
    handler.addFilter(_drop_known_noise)
    if fmt == "json":  # a raw warning or traceback line would break the one-object-a-line rule
        logging.captureWarnings(True)
        _log_uncaught_exceptions()


def _drop_known_noise(record: logging.LogRecord) -> bool:
    """Handler filter: False for the library messages in ``_DROPPED``."""
    return not (isinstance(record.msg, str) and record.msg.startswith(_DROPPED))


def _formatter(fmt: str, shared: list[Any]) -> logging.Formatter:
    """The one formatter of structlog's events and stdlib records alike."""
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:  # tracebacks arrive as text (redacted); rich's would show local variables
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, celery_task_fields, worker_lost_as_line],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            RedactSecrets(process_redactor()),
            renderer,
        ],
    )


def _log_uncaught_exceptions() -> None:
    log = structlog.get_logger("filerelay")

    def main_hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        log.critical("uncaught_exception", exc_info=(kind, exc, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        info = (args.exc_type, args.exc_value, args.exc_traceback)
        thread = args.thread.name if args.thread else None
        log.critical("uncaught_exception", thread=thread, exc_info=info)

    sys.excepthook = main_hook
    threading.excepthook = thread_hook


class LineLogger:
    """A stand-in for stdout that logs each line written to it. It has no ``fileno``, so
    nothing can write around it to the terminal."""

    encoding = "utf-8"

    def __init__(self, name: str, level: int = logging.INFO) -> None:
        self._log = logging.getLogger(name)
        self._level = level
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line.strip():
                self._log.log(self._level, line.strip())
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered but a partial line."""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def stdout_to_log() -> None:
    """Log what is printed to stdout, one event per line (a worker in ``json`` mode).

    Celery writes its notices ("worker: Warm shutdown (MainProcess)") with ``os.write`` on
    ``sys.__stdout__.fileno()`` (``safe_say`` in celery/apps/worker.py), which would break
    the JSON lines; without a ``fileno`` it skips them, and the worker logs its shutdown
    itself (``worker_shutting_down``).
    """
    stream = LineLogger("stdout")
    sys.stdout = stream
    sys.__stdout__ = stream  # type: ignore[assignment,misc]
