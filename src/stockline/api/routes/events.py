"""GET /api/inventory/events (SSE) and POST /api/inventory/events/token.

Registered before the inventory router, so `/api/inventory/{product_id}` does
not take `events` for a product id. The stream authenticates on a short-lived
pooled connection and then holds none: replay reads borrow one per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from stockline import metrics
from stockline.api.deps import KIOSK_COOKIE, SESSION_COOKIE, AnyPrincipal, Services, ServicesDep
from stockline.api.schemas import ID_MAX
from stockline.auth import Principal, authenticate
from stockline.db.queries import load
from stockline.errors import DatabaseUnavailable, InvalidInput, NotAuthenticated
from stockline.events import tokens
from stockline.events.service import EXTRAS_KEY, EventsService
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
    events = services.extras.get(EXTRAS_KEY)
    if not isinstance(events, EventsService):
        raise DatabaseUnavailable("the event stream is not running in this process")
    return events


def _last_event_id(header: str | None, query: int | None) -> int | None:
    # the header is what EventSource sends on reconnect: it is newer than the URL's
    if header is None or not header.strip():
        return query
    value = header.strip()
    if not value.isdigit() or len(value) > 19 or int(value) > ID_MAX:
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
    token: Annotated[str | None, Query(max_length=512)] = None,
    last_event_id_header: Annotated[str | None, Header(alias="last-event-id")] = None,
) -> StreamingResponse:
    events = _events(services)
    after = _last_event_id(last_event_id_header, last_event_id)
    await _principal(request, services, events, token)
    if events.stopping:
        raise DatabaseUnavailable("this instance is shutting down; reconnect")
    try:
        async with asyncio.timeout(services.settings.db_connect_timeout):
            await events.hub.ready.wait()
    except TimeoutError as exc:
        raise DatabaseUnavailable("the event stream is not ready yet") from exc
    return EventStreamResponse(events.open_stream(after=after, snapshot=snapshot))


@router.post("/events/token", response_model=EventTokenOut)
async def events_token(principal: AnyPrincipal, services: ServicesDep) -> EventTokenOut:
    events = _events(services)
    ttl = services.settings.sse_token_seconds
    token = tokens.issue(await events.signing_key(), principal.kind, principal.id, ttl)
    return EventTokenOut(
        token=token, expires_in=int(ttl), url=f"/api/inventory/events?token={token}"
    )


SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # nginx: pass each frame on at once, whatever the site config
}


class EventStreamResponse(StreamingResponse):
    """Streams one EventStream; ends it on client disconnect, on shutdown, or when the
    hub drops the subscriber for being too slow (even while a write is blocked)."""

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        super().__init__((), media_type="text/event-stream", headers=SSE_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self._stream
        metrics.SSE_SUBSCRIBERS.inc()
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            pump = asyncio.create_task(self._pump(send))
            stream.subscriber.on_drop(lambda: _cancel(pump))
            watch = asyncio.create_task(_wait_for_disconnect(receive))
            try:
                await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
            finally:
                client_left = watch.done()
                for task in (pump, watch):
                    task.cancel()
                await asyncio.gather(pump, watch, return_exceptions=True)
            if stream.end_reason == "slow" and not client_left:
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


def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            return
