"""GET /api/inventory/events (SSE) and POST /api/inventory/events/token.

Registered before the inventory router, so `/api/inventory/{product_id}` does
not take `events` for a product id. The stream authenticates on a short-lived
pooled connection and then holds none: replay reads borrow one per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from stockline import metrics
from stockline.api.deps import KIOSK_COOKIE, SESSION_COOKIE, AnyPrincipal, Services, ServicesDep
from stockline.api.middleware import SECURITY_HEADERS
from stockline.api.schemas import ID_MAX, Text
from stockline.auth import Principal, authenticate
from stockline.db.queries import load
from stockline.errors import DatabaseUnavailable, InvalidInput, NotAuthenticated
from stockline.events import tokens
from stockline.events.service import EventsService
from stockline.events.sse import EventStream

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/inventory", tags=["events"])
_Q = load("events")


class EventTokenOut(BaseModel):
    token: str
    token_type: str = "stream"  # noqa: S105 - a kind of token, not a secret
    expires_in: int
    url: str


def _events(services: Services) -> EventsService:
    return services.events


def _last_event_id(header: str | None, query: int | None) -> int | None:
    # the header is what EventSource sends on reconnect: it is newer than the URL's
    if header is None or not header.strip():
        return query
    value = header.strip()
    # isascii: str.isdigit() also says yes to "²" (a latin-1 header byte), which int() refuses
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > ID_MAX:
        raise InvalidInput("Last-Event-ID must be an event id (a non-negative integer)")
    return int(value)


async def _principal(
    request: Request, services: Services, events: EventsService, token: str | None
) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    async with services.pool.connection() as conn:  # returned before the stream starts
        if scheme.lower() == "bearer" and bearer.strip():
            return await authenticate(conn, bearer.strip())
        if token is not None:
            found = tokens.verify(await events.signing_key(), token)
            if found is None:
                raise NotAuthenticated("invalid or expired stream token")
            kind, principal_id = found
            query = _Q["select_active_admin"] if kind == "admin" else _Q["select_active_kiosk"]
            cur = await conn.execute(query, {"id": principal_id})
            row = await cur.fetchone()
            if row is None:
                raise NotAuthenticated("invalid or expired stream token")
            return Principal(kind, int(row["id"]), str(row["name"]))
        for cookie in (SESSION_COOKIE, KIOSK_COOKIE):
            value = request.cookies.get(cookie)
            if value:
                return await authenticate(conn, value, via_cookie=True)
    raise NotAuthenticated()


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: stock-updated, tracking-toggled, "
            "threshold-breach, threshold-cleared (and snapshot, reset); see docs/events.md",
            "content": {"text/event-stream": {}},
        }
    },
)
async def inventory_events(
    request: Request,
    services: ServicesDep,
    last_event_id: Annotated[int | None, Query(ge=0, le=ID_MAX)] = None,
    snapshot: Annotated[bool, Query()] = False,
    token: Annotated[Text | None, Query(max_length=512)] = None,
    last_event_id_header: Annotated[str | None, Header(alias="last-event-id")] = None,
) -> StreamingResponse:
    after = _last_event_id(last_event_id_header, last_event_id)
    return EventStreamResponse(await _open_stream(request, services, after, snapshot, token))


async def _open_stream(
    request: Request, services: Services, after: int | None, snapshot: bool, token: str | None
) -> EventStream:
    events = _events(services)
    await _principal(request, services, events, token)
    if events.stopping:
        raise DatabaseUnavailable("this instance is shutting down; reconnect")
    try:
        async with asyncio.timeout(services.settings.db_connect_timeout):
            await events.hub.ready.wait()
    except TimeoutError as exc:
        raise DatabaseUnavailable("the event stream is not ready yet") from exc
    return events.open_stream(after=after, snapshot=snapshot)


@router.post("/events/token", response_model=EventTokenOut)
async def events_token(principal: AnyPrincipal, services: ServicesDep) -> EventTokenOut:
    events = _events(services)
    ttl = services.settings.sse_token_seconds
    token = tokens.issue(await events.signing_key(), principal.kind, principal.id, ttl)
    return EventTokenOut(
        token=token, expires_in=int(ttl), url=f"/api/inventory/events?token={token}"
    )


SSE_HEADERS = {
    "Cache-Control": "no-store, no-transform",  # SPEC 7.1: no /api answer is stored
    "X-Accel-Buffering": "no",  # nginx: pass each frame on at once, whatever the site config
}
_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no"}


class EventStreamFastPath:
    """Serves GET /api/inventory/events straight from the ASGI stack's edge.

    A stream lives for hours; through the full FastAPI stack it would keep a dozen
    suspended frames, the request's exit stacks and the middlewares' wrappers alive
    (and call them for every chunk). When the request is plainly valid this answers
    it with the same code as the route; anything unusual (bad parameters, failed
    authentication, not ready) falls through to the route, which answers with its
    problem+json. The route stays the documented one (OpenAPI).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != "/api/inventory/events"
            or scope["method"] != "GET"
        ):
            await self.app(scope, receive, send)
            return
        stream = await self._open(scope)
        if stream is None:
            await self.app(scope, receive, send)
            return
        await EventStreamResponse(stream, security_headers=True)(scope, receive, send)
        metrics.REQUESTS.labels("GET", "/api/inventory/events", "200").inc()

    @staticmethod
    async def _open(scope: Scope) -> EventStream | None:
        # its own frame: the Request and its parsed headers die before the stream starts
        request = Request(scope)
        params = _plain_params(request)
        services = getattr(scope["app"].state, "services", None)
        if params is None or services is None:
            return None
        try:
            return await _open_stream(request, services, *params)
        except Exception:
            return None


def _plain_params(request: Request) -> tuple[int | None, bool, str | None] | None:
    """(after, snapshot, token) when every parameter is unambiguous, else None."""
    query = request.query_params
    header = request.headers.get("last-event-id")
    raw = header if header is not None and header.strip() else query.get("last_event_id")
    after: int | None = None
    if raw is not None:
        value = raw.strip()
        if not (value.isascii() and value.isdigit()) or len(value) > 18:
            return None
        after = int(value)
    snapshot_raw = query.get("snapshot", "false").lower()
    if snapshot_raw not in _TRUE | _FALSE:
        return None
    token = query.get("token")
    if token is not None and len(token) > 512:
        return None
    return after, snapshot_raw in _TRUE, token


class EventStreamResponse(StreamingResponse):
    """Streams one EventStream; ends it on client disconnect, on shutdown, or when the
    hub drops the subscriber for being too slow (even while a write is blocked).

    One helper task per stream (waiting for the disconnect); the stream itself is
    written by the request's own task, which the helper or the hub cancels to end it.
    """

    def __init__(self, stream: EventStream, *, security_headers: bool = False) -> None:
        self._stream = stream
        self.status_code = 200
        self.media_type = "text/event-stream"
        self.background = None
        # built once per process: every stream shares the same header list
        self.raw_headers = _RAW_HEADERS_EDGE if security_headers else _RAW_HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self._stream
        me = asyncio.current_task()
        assert me is not None
        ending: list[str] = []  # why this task cancelled itself: "client" or "slow"
        armed = [True]

        def end(reason: str) -> None:
            if armed[0] and not ending:
                ending.append(reason)
                me.cancel()

        metrics.SSE_SUBSCRIBERS.inc()
        watch = asyncio.create_task(_wait_for_disconnect(receive, end))
        stream.subscriber.on_drop(lambda: end("slow"))
        try:
            try:
                start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                await send(start)
                await self._pump(send)
                if ending:
                    await asyncio.sleep(0)  # take delivery of our own pending cancel
            except asyncio.CancelledError:
                if not ending:
                    raise  # uvicorn's shutdown timeout, or the server going away
                me.uncancel()
            finally:
                armed[0] = False
            if ending == ["slow"]:
                log.warning(
                    "slow event subscriber disconnected",
                    extra={"action": "sse_slow_dropped", "last_event_id": stream.cursor},
                )
                # end the body if the socket takes it; a client that reads nothing at all is
                # left to uvicorn, which closes the connection when we return
                with contextlib.suppress(TimeoutError, OSError):
                    async with asyncio.timeout(1.0):
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watch.cancel()
            stream.close()
            metrics.SSE_SUBSCRIBERS.dec()

    async def _pump(self, send: Send) -> None:
        try:
            async with contextlib.aclosing(self._stream.chunks()) as chunks:
                async for chunk in chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception as exc:  # e.g. the database went away mid-replay: the client resumes
            log.warning(
                "event stream ended early",
                extra={"action": "sse_stream_failed", "error": type(exc).__name__},
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _raw_headers(extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
    headers += [(k.lower().encode(), v.encode()) for k, v in SSE_HEADERS.items()]
    return headers + extra


_RAW_HEADERS = _raw_headers([])
_RAW_HEADERS_EDGE = _raw_headers(list(SECURITY_HEADERS))  # what Observe adds on the full path


async def _wait_for_disconnect(receive: Receive, end: Callable[[str], None]) -> None:
    while True:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            end("client")
            return
