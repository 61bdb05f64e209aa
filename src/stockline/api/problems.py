"""The one place that turns failures into RFC 9457 problem+json answers."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from stockline import errors
from stockline.api.schemas import Problem

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


PROBLEM_MEDIA_TYPE = "application/problem+json"
_PROBLEM_REF = "#/components/schemas/Problem"

# Shared by every /api operation in /openapi.json, so client generators (and the fuzz
# test's schema-conformance check) know every error body is a Problem.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request: the body is not valid JSON, or the request is malformed",
    401: "Unauthorized: no credentials, or invalid/expired ones",
    403: "Forbidden: the wrong kind of credentials, or a cookie write without X-CSRF-Token",
    404: "Not Found: no such resource",
    409: "Conflict: the request conflicts with the current state",
    413: "Content Too Large: request bodies are limited (1 MiB by default)",
    422: "Unprocessable Content: the request does not validate",
    429: "Too Many Requests: too many failed logins from this address",
    503: "Service Unavailable: the database is unreachable; retry after a moment",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 0}}
}
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "the accepted scheme", "schema": {"type": "string"}}},
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}
_WRITES = {"post", "put", "patch", "delete"}
# /api operations anyone may call; every other one needs a bearer token or a cookie
PUBLIC_API = {"/api/auth/login", "/api/auth/kiosk"}
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "an admin session token (POST /api/auth/login) or a kiosk token "
        "(`stockline kiosk create`)",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "stockline_session",
        "description": "the admin portal's HttpOnly cookie; unsafe methods also need the "
        "X-CSRF-Token header (the login answer's csrf_token)",
    },
    "kioskCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "stockline_kiosk",
        "description": "a paired kiosk browser's HttpOnly cookie; unsafe methods also need "
        "X-CSRF-Token equal to the stockline_csrf cookie",
    },
}


def error_codes(method: str, path: str) -> list[int]:
    """The problem statuses an operation may answer with."""
    if not path.startswith("/api/"):
        return []
    if path == "/api/auth/login":
        return [400, 401, 413, 422, 429, 503]
    codes = [400, 401, 403, 404, 422, 503]
    if method in _WRITES:
        codes += [409, 413]
    return sorted(codes)


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or ERROR_DESCRIPTIONS.get(status, "Error"),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
    }
    if status in _ERROR_HEADERS:
        response["headers"] = _ERROR_HEADERS[status]
    return response


def add_problem_responses(doc: dict[str, Any]) -> dict[str, Any]:
    """Declare the Problem schema, each operation's problem+json error answers and
    which operations need credentials."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            if path.startswith("/api/") and path not in PUBLIC_API:
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
            responses = operation.setdefault("responses", {})
            for status in error_codes(method, path):
                # replaces FastAPI's application/json HTTPValidationError for 422 too
                existing = responses.get(str(status), {})
                described = existing.get("description")
                if described in (None, "Validation Error"):
                    described = None
                responses[str(status)] = problem_response(status, described)
    text = repr(doc.get("paths"))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"/{unused}'" not in text:
            schemas.pop(unused, None)
    return doc


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = add_problem_responses(doc)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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
    install_openapi(app)

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
