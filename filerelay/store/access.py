"""What every facade over the store shares: short transactions on one engine (writes in
``BEGIN IMMEDIATE`` on SQLite, reads in ``DEFERRED``) and driver errors translated to
:class:`~filerelay.errors.StoreError` at the boundary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from filerelay.errors import StoreError
from filerelay.store.db import read_only

P = ParamSpec("P")
T = TypeVar("T")


def translated(method: Callable[P, T]) -> Callable[P, T]:
    """Turn driver errors escaping ``method`` into :class:`StoreError`."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except DBAPIError as exc:
            raise StoreError(f"store {method.__name__} failed: {exc.orig or exc}") from exc

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

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._reader.begin() as conn:
            yield conn
