"""Errors as RFC 9457 problem details (``application/problem+json``): every refusal names
what was wrong, and no input makes a route answer 5xx (an unreachable store is a 503)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from filerelay.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    StoreError,
    TooLargeError,
    UsageError,
)

log = structlog.get_logger("filerelay.api")

PROBLEM_TYPE = "application/problem+json"


class InvalidParam(BaseModel):
    """One bad field of a request: where it is (``query.limit``, ``body.text``) and why."""

    name: str
    reason: str
    line: int | None = None


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    invalid_params: list[InvalidParam] = Field(default_factory=list, alias="invalid-params")

    model_config = {"populate_by_name": True}


TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
}

#: the problem responses every route may give, for the OpenAPI document
COMMON: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM_TYPE: {}}, "description": TITLES[code]}
    for code in (400, 401, 403, 404, 409, 422, 429, 503)
}


def problem(
    status: int,
    detail: str | None,
    request: Request | None = None,
    params: list[InvalidParam] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem-details response."""
    body = Problem(
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path if request is not None else None,
        invalid_params=params or [],
    )
    return JSONResponse(
        body.model_dump(by_alias=True, exclude_none=True),
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers=headers,
    )


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    params = [InvalidParam(name=_loc(e["loc"]), reason=e["msg"]) for e in exc.errors()]
    names = ", ".join(p.name for p in params)
    return problem(422, f"invalid request: {names}", request, params)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, str(exc.detail), request, headers=headers)


async def _usage(request: Request, exc: Exception) -> JSONResponse:
    status = 400
    if isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, ConflictError):
        status = 409
    elif isinstance(exc, TooLargeError):
        status = 413
    return problem(status, str(exc), request)


async def _config(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConfigError)
    params = [
        InvalidParam(
            name=f"{p.file}:{p.field}" if p.field else p.file, reason=p.message, line=p.line
        )
        for p in exc.problems
        if not isinstance(p, str)
    ]
    return problem(422, "the config is not valid: nothing was changed", request, params)


async def _store(request: Request, exc: Exception) -> JSONResponse:
    log.error("api_store_error", path=request.url.path, error=str(exc))
    return problem(
        503, "the store is unavailable; try again", request, headers={"Retry-After": "5"}
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("api_unexpected_error", path=request.url.path, exc_info=exc)
    return problem(500, "unexpected error; it is logged", request)


def install(app: FastAPI) -> None:
    """Register the problem-details handlers on ``app``."""
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(ConfigError, _config)
    app.add_exception_handler(UsageError, _usage)
    app.add_exception_handler(StoreError, _store)
