"""The one place that turns failures into RFC 9457 problem+json answers.

`KINDS` maps exception classes to answers; an exception takes the entry of the
first class along its MRO, so a new subclass needs no new code. Headers come
from the exception's attributes (`retry_after`, `challenge`, Starlette's
`headers`). Every answer is rendered by `answer`, which can not fail: what a
client sent is echoed only when it is encodable, finite and not a secret.
`LastResort` answers whatever escaped the handlers inside the middleware stack,
so a 500 carries the security headers and the keep-alive connection survives.
"""

from __future__ import annotations

import json
import logging
import math
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockline import errors
from stockline.api.methods import allowed_methods
from stockline.api.openapi import PROBLEM_MEDIA_TYPE, install_openapi

log = logging.getLogger(__name__)

_DB_DOWN = "the database is unreachable; try again shortly"


@dataclass(frozen=True)
class Kind:
    """How one class of failure is answered."""

    status: int | None  # None: the exception's own status_code (Starlette's HTTPException)
    detail: str | None = None  # fixed text, for foreign exceptions whose text may hold input
    retry_after: int | None = None
    log: Literal["none", "warning", "traceback"] = "none"


KINDS: dict[type[Exception], Kind] = {
    errors.StocklineError: Kind(400),
    errors.NotFound: Kind(404),
    errors.Conflict: Kind(409),
    errors.InvalidInput: Kind(422),
    errors.UnsupportedMediaType: Kind(415),
    errors.NotAuthenticated: Kind(401),
    errors.Forbidden: Kind(403),
    errors.TooManyAttempts: Kind(429),
    errors.TooManyStreams: Kind(429),
    errors.DatabaseUnavailable: Kind(503),
    StarletteHTTPException: Kind(None),
    RequestValidationError: Kind(422),
    PoolTimeout: Kind(503, _DB_DOWN, retry_after=2),
    psycopg.OperationalError: Kind(503, _DB_DOWN, retry_after=2, log="warning"),
    # a value PostgreSQL refuses (NUL in text, a number out of range, a bad date) is the
    # client's: the shared input types should have caught it, this keeps it a 4xx anyway
    psycopg.DataError: Kind(422, "a value cannot be stored", log="warning"),
    UnicodeError: Kind(422, "the text cannot be encoded (unpaired surrogate?)", log="warning"),
    Exception: Kind(500, "an unexpected error occurred", log="traceback"),
}

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
    500: "Internal Server Error",
    503: "Service Unavailable",
}

# fields whose submitted value is never echoed to a client nor written to a log
SECRET_FIELDS = frozenset({"password", "token", "secret", "access_token", "csrf_token"})
_ECHO_MAX_CHARS = 200
_ECHO_MAX_INT = 2**64
_SURROGATE = re.compile("[\ud800-\udfff]")


def kind_of(exc: BaseException) -> Kind:
    for cls in type(exc).__mro__:
        kind = KINDS.get(cls)
        if kind is not None:
            return kind
    return KINDS[Exception]


def encodable(value: Any) -> Any:
    """`value` made safe for UTF-8 JSON: lone surrogates become U+FFFD, non-finite
    floats become null."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(encodable(k)): encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    return encodable(str(value))


def echoable(value: object) -> bool:
    """Whether a submitted value may be sent back as is: small, finite, encodable."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) <= _ECHO_MAX_INT
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= _ECHO_MAX_CHARS and _SURROGATE.search(value) is None
    return False


def is_secret(loc: list[Any]) -> bool:
    return any(isinstance(part, str) and part.lower() in SECRET_FIELDS for part in loc)


def clean_validation_errors(raw: list[Any]) -> list[dict[str, Any]]:
    """pydantic's (or a service's) error items with `loc`, `msg`, `type` and at most an
    echoed `input`: small scalars only, never a whole body, never a secret field."""
    cleaned = []
    for err in raw:
        loc = [part if isinstance(part, int) else str(part) for part in err.get("loc", ())]
        # every item has a type, so a client can branch on it (a service's default: value_error)
        item: dict[str, Any] = {
            "loc": loc,
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type") or "value_error"),
        }
        value = err.get("input")
        if not is_secret(loc) and echoable(value):
            item["input"] = value
        # a file's errors (the catalogue import) say where as SPEC 7.3 names it
        for key in ("line", "field", "message"):
            if key in err and isinstance(err[key], int | str | None):
                item[key] = encodable(err[key][:500] if isinstance(err[key], str) else err[key])
        cleaned.append(item)
    return cleaned


def problem(
    status: int,
    title: str | None = None,
    detail: str | None = None,
    *,
    errors_: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors_:
        body["errors"] = errors_
    content = json.dumps(
        encodable(body), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    return Response(
        content.encode("utf-8"),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _headers(exc: BaseException, kind: Kind) -> dict[str, str]:
    headers: dict[str, str] = {}
    own = getattr(exc, "headers", None)
    if isinstance(exc, StarletteHTTPException) and isinstance(own, Mapping):
        headers.update({str(k): str(v) for k, v in own.items()})
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is None:
        retry_after = kind.retry_after
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    challenge = getattr(exc, "challenge", None)
    if isinstance(challenge, str):
        headers["WWW-Authenticate"] = challenge
    return headers


def answer(exc: BaseException, path: str = "") -> Response:
    """The problem+json answer for `exc`, logged as its kind says."""
    kind = kind_of(exc)
    status = kind.status
    if status is None:
        status = int(getattr(exc, "status_code", 500))
    detail = kind.detail
    listed: list[dict[str, Any]] | None = None
    if isinstance(exc, errors.StocklineError):
        detail = exc.detail
        if isinstance(exc, errors.InvalidInput):
            listed = clean_validation_errors(exc.errors)
    elif isinstance(exc, StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else None
    elif isinstance(exc, RequestValidationError):
        listed = clean_validation_errors(list(exc.errors()))
        detail = "the request is not valid"
        if any(e["type"] == "json_invalid" for e in listed):
            status, detail = 400, "the request body is not valid JSON"
    _log(exc, kind, status, path)
    return problem(status, None, detail, errors_=listed, headers=_headers(exc, kind))


def _log(exc: BaseException, kind: Kind, status: int, path: str) -> None:
    extra = {"status": status, "path": path, "error": type(exc).__name__}
    if kind.log == "warning":
        log.warning("request failed", extra={"action": "request_failed", **extra})
    elif kind.log == "traceback":
        # the frames and exception types, never their messages: a message may quote
        # submitted values (a pydantic error quotes a password it refused)
        log.error(
            "unhandled error",
            extra={"action": "unhandled_error", **extra, "traceback": redacted_traceback(exc)},
        )


def redacted_traceback(exc: BaseException) -> str:
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"{frames}{type(current).__module__}.{type(current).__qualname__}")
        current = current.__cause__ or current.__context__
    return "\n-- while handling --\n".join(reversed(parts))


async def _handle(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 405:
        # the router names the methods of the first route it matched; the path has more
        allow = allowed_methods(request.app.router.routes, request.scope)
        exc = StarletteHTTPException(405, exc.detail, headers={"Allow": allow})
    return answer(exc, request.url.path)


class LastResort:
    """Answers any exception the handlers did not take, inside the middleware stack."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise  # half an answer is out: only closing the connection is honest
            await answer(exc, scope.get("path", ""))(scope, receive, send)


def install(app: FastAPI) -> None:
    """Problem handlers and the last-resort middleware; call before adding any other
    middleware so LastResort is the innermost."""
    install_openapi(app)
    for cls in KINDS:
        if cls is not Exception:  # Starlette would give Exception to its outermost layer
            app.add_exception_handler(cls, _handle)
    app.add_middleware(LastResort)
