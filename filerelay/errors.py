"""The one exception tree of filerelay.

::

    FilerelayError
     ├── ConfigError          bad pipeline YAML or settings (carries every problem found)
     ├── RoutingError         an event cannot be routed (bad template, escaping path)
     ├── ActionError          a step's effect failed
     │    ├── RetryableError  connection, timeout, 5xx, 429, throttling: try again later
     │    └── PermanentError  4xx, validation, vanished file: retrying cannot help
     │         ├── FileVanishedError  the file to act on is gone
     │         └── UnsafeFileError    a link, a FIFO or another file where the file should be
     ├── StoreError           the metadata store refused or is unreachable
     └── UsageError           bad operator input: unknown state, bad duration, no such event
          ├── NotFoundError   the event, source, token … named does not exist
          ├── ConflictError   the operation does not apply to its current state
          └── TooLargeError   the input is over its size limit (an upload)

Third-party exceptions (botocore, requests, kombu, OSError) are translated into these at the
edge of the component that called the library (``raise ... from exc``).
"""

from __future__ import annotations

from dataclasses import dataclass


class FilerelayError(Exception):
    """Root of every error filerelay raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file, with its location."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class ConfigError(FilerelayError):
    """A config could not be loaded; ``problems`` lists every problem found, each located."""

    def __init__(self, problems: list[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(file="", line=None, field="", message=problems)]
        self.problems = problems
        super().__init__("\n".join(str(p).lstrip(": ") for p in problems))


class RoutingError(FilerelayError):
    """An event cannot be routed or a template cannot be rendered for it."""


class ActionError(FilerelayError):
    """A step's effect failed. Subclasses say whether retrying can help."""

    retryable = False


class RetryableError(ActionError):
    """A transient failure: connection refused, timeout, 5xx, 429, throttling."""

    retryable = True


class PermanentError(ActionError):
    """A failure that retrying cannot fix: 4xx, validation, missing bucket, vanished file."""


class FileVanishedError(PermanentError):
    """The file to act on no longer exists."""


class UnsafeFileError(PermanentError):
    """A symbolic link, a non-regular file (FIFO, socket, device) or another file is where the
    file to act on (or a directory on its way) should be: refused, never followed."""


class StoreError(FilerelayError):
    """The metadata store refused an operation or cannot be reached."""


class UsageError(FilerelayError):
    """An operator command got input it cannot use (the CLI exits 2 with this one line)."""


class NotFoundError(UsageError):
    """The operator named something that does not exist (an event, a source, a token)."""


class ConflictError(UsageError):
    """The operation does not apply to the thing's current state (cancel a finished run)."""


class TooLargeError(UsageError):
    """The input is over its size limit (an upload)."""
