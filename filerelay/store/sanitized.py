"""Column types that sanitize what they record: the store's one write boundary for free text.

Every result, error and reason a process writes passes :func:`filerelay.redaction.sanitize`
on its way into the database, whichever code path wrote it: the secret values the process
knows (its environment's credentials, its settings' and its config's secrets) become ``***``,
the same masking as the log output; URLs lose their userinfo and secret query values; NUL
bytes and lone surrogates, which PostgreSQL refuses (a NUL in a script's stderr used to make
it refuse the failure record, leaving the event ``processing`` for ever), are replaced.

The masking happens when a value is bound, so a text read back is the text stored; columns
that identify things (paths, keys, names) keep plain types — masking them would change what
they identify.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from filerelay.redaction import sanitize, sanitize_json


class SanitizedText(TypeDecorator[str]):
    """``TEXT`` whose values are sanitized when written."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else sanitize(str(value))


class SanitizedString(TypeDecorator[str]):
    """``VARCHAR(n)`` whose values are sanitized when written."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else sanitize(str(value))


class SanitizedJSON(TypeDecorator[Any]):
    """``JSON`` whose strings (keys included) are sanitized when written."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else sanitize_json(value)
