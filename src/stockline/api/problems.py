"""The one place that turns failures into RFC 9457 problem+json answers."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from stockline import errors

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[errors.StocklineError], int, str]] = [
    (errors.NotFound, 404, "Not Found"),
    (errors.Conflict, 409, "Conflict"),
    (errors.InvalidInput, 422, "Unprocessable Content"),
    (errors.NotAuthenticated, 401, "Unauthorized"),
    (errors.Forbidden, 403, "Forbidden"),
    (errors.TooManyAttempts, 429, "Too Many Requests"),
    (errors.DatabaseUnavailable, 503, "Service Unavailable"),
]


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors_: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors_:
        body["errors"] = errors_
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def _clean_validation_errors(raw: list[Any]) -> list[dict[str, Any]]:
    cleaned = []
    for err in raw:
        item: dict[str, Any] = {
            "loc": list(err.get("loc", ())),
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        value = err.get("input")
        # echo small scalars only: never a whole body (it may hold a password)
        if isinstance(value, int | float | bool) or (isinstance(value, str) and len(value) <= 200):
            item["input"] = value
        cleaned.append(item)
    return cleaned


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.StocklineError)
    async def _domain(request: Request, exc: errors.StocklineError) -> JSONResponse:
        for cls, status, title in _STATUS:
            if isinstance(exc, cls):
                headers = None
                if isinstance(exc, errors.TooManyAttempts):
                    headers = {"Retry-After": str(exc.retry_after)}
                elif isinstance(exc, errors.NotAuthenticated):
                    headers = {"WWW-Authenticate": "Bearer"}
                elif isinstance(exc, errors.DatabaseUnavailable):
                    headers = {"Retry-After": "2"}
                extra = exc.errors if isinstance(exc, errors.InvalidInput) else None
                return problem(status, title, exc.detail, errors_=extra, headers=headers)
        return problem(400, "Bad Request", exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = _clean_validation_errors(list(exc.errors()))
        if any(e["type"] == "json_invalid" for e in errs):
            return problem(400, "Bad Request", "the request body is not valid JSON", errors_=errs)
        return problem(422, "Unprocessable Content", "the request is not valid", errors_=errs)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large"}.get(
            exc.status_code, "Error"
        )
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(exc.status_code, title, detail, headers=dict(exc.headers or {}))

    @app.exception_handler(PoolTimeout)
    async def _pool(request: Request, exc: PoolTimeout) -> JSONResponse:
        return problem(
            503,
            "Service Unavailable",
            "the database is unreachable; try again shortly",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(psycopg.OperationalError)
    async def _db_down(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.warning(
            "database error", extra={"action": "db_unavailable", "error": type(exc).__name__}
        )
        return problem(
            503,
            "Service Unavailable",
            "the database is unreachable; try again shortly",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the traceback goes to the log, never to the client
        log.exception(
            "unhandled error", extra={"action": "unhandled_error", "path": request.url.path}
        )
        return problem(500, "Internal Server Error", "an unexpected error occurred")
