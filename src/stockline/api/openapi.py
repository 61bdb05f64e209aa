"""/openapi.json as clients need it: every /api operation's problem+json error answers,
the Problem schema and which operations need credentials."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from stockline.api.schemas import Problem

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
    415: "Unsupported Media Type: the body is not of the accepted type",
    422: "Unprocessable Content: the request does not validate",
    429: "Too Many Requests: too many failed logins from this address, or too many open "
    "event streams for these credentials",
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
    if path == "/api/inventory/events":
        codes.append(429)  # STOCKLINE_MAX_STREAMS_PER_PRINCIPAL
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
