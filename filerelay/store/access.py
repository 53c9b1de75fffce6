"""What every facade over the store shares: short transactions on one engine (writes in
``BEGIN IMMEDIATE`` on SQLite, reads in ``DEFERRED``) and driver errors translated to
:class:`~filerelay.errors.StoreError` at the boundary."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from filerelay.errors import StoreError
from filerelay.store.db import read_only

P = ParamSpec("P")
T = TypeVar("T")

#: How often a write that lost an insert race runs again (the next try sees the winner's row).
INSERT_RACE_ATTEMPTS = 3


def translated(method: Callable[P, T]) -> Callable[P, T]:
    """Turn driver errors escaping ``method`` into :class:`StoreError` — and data the store
    cannot decode (a corrupted row: bad JSON, bad text), which is the store's fault too: the
    task that met it is deferred, not failed and its message dropped."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except DBAPIError as exc:
            raise StoreError(f"store {method.__name__} failed: {exc.orig or exc}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"store {method.__name__} failed: {exc}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a corrupted row
            raise StoreError(f"store {method.__name__}: undecodable data: {exc}") from exc

    return wrapper


class Transactions:
    """A store facade's engine and its two kinds of short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = read_only(engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _write_racing(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction, again in a new one when a concurrent insert of
        the same key won (``IntegrityError``): that transaction sees the winner's row."""
        for attempt in range(INSERT_RACE_ATTEMPTS):
            try:
                with self._write() as conn:
                    return work(conn)
            except IntegrityError:
                if attempt == INSERT_RACE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._reader.begin() as conn:
            yield conn
