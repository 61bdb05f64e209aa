"""Serving GET /api/inventory/events: who may open a stream, the ASGI fast path, and the
response that pumps one EventStream.

The route (api/routes/events.py) and the fast path (EventStreamFastPath, a middleware at
the edge of the ASGI stack) both open streams through `open_stream`, so they check the
same credentials and parse Last-Event-ID with the same function (events.stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from stockline import metrics
from stockline.api.deps import KIOSK_COOKIE, SESSION_COOKIE, Services
from stockline.api.http_protocol import direct_body
from stockline.api.middleware import SECURITY_HEADERS
from stockline.auth import Principal, authenticate, authenticate_stream_token
from stockline.errors import NotAuthenticated
from stockline.events.stream import EventStream, resume_position

log = logging.getLogger(__name__)
PATH = "/api/inventory/events"


async def stream_principal(request: Request, services: Services, token: str | None) -> Principal:
    """Bearer header, then `?token=`, then the session or kiosk cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    async with services.pool.connection() as conn:  # returned before the stream starts
        if scheme.lower() == "bearer" and bearer.strip():
            return await authenticate(conn, bearer.strip())
        if token is not None:
            key = await services.events.signing_key()
            return await authenticate_stream_token(conn, key, token)
        for cookie in (SESSION_COOKIE, KIOSK_COOKIE):
            value = request.cookies.get(cookie)
            if value:
                return await authenticate(conn, value, via_cookie=True)
    raise NotAuthenticated()


async def open_stream(
    request: Request, services: Services, after: int | None, snapshot: bool, token: str | None
) -> EventStream:
    principal = await stream_principal(request, services, token)
    return await services.events.open_stream(principal, after=after, snapshot=snapshot)


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
    authentication, not ready, too many streams) falls through to the route, which
    answers with its problem+json. The route stays the documented one (OpenAPI).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        stream = await self._open(scope)
        if stream is None:
            await self.app(scope, receive, send)
            return
        await EventStreamResponse(stream, security_headers=True)(scope, receive, send)
        metrics.REQUESTS.labels("GET", PATH, "200").inc()

    @staticmethod
    async def _open(scope: Scope) -> EventStream | None:
        # its own frame: the Request and its parsed headers die before the stream starts
        request = Request(scope)
        services = getattr(scope["app"].state, "services", None)
        params = _plain_params(request)
        if params is None or services is None:
            return None
        try:
            return await open_stream(request, services, *params)
        except Exception:
            return None


def _plain_params(request: Request) -> tuple[int | None, bool, str | None] | None:
    """(after, snapshot, token) when every parameter is unambiguous, else None."""
    query = request.query_params
    try:
        after = resume_position(request.headers.get("last-event-id"), query.get("last_event_id"))
    except Exception:
        return None
    snapshot_raw = query.get("snapshot", "false").lower()
    if snapshot_raw not in _TRUE | _FALSE:
        return None
    token = query.get("token")
    if token is not None and (len(token) > 512 or "\x00" in token):
        return None
    return after, snapshot_raw in _TRUE, token


class EventStreamResponse(StreamingResponse):
    """Streams one EventStream; ends it on client disconnect, on shutdown, on revoked
    credentials, or when the hub drops the subscriber for being too slow (even while a
    write is blocked).

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
                self._push_directly(scope)
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
            stream.subscriber.push = None
            watch.cancel()
            stream.close()
            metrics.SSE_SUBSCRIBERS.dec()

    def _push_directly(self, scope: Scope) -> None:
        """Let the hub write this stream's live frames itself while the stream is idle
        (events/hub.py): one write per subscriber per event, no task switch."""
        direct = direct_body(scope)
        if direct is None:
            return
        stream = self._stream

        def push() -> bool:
            if not direct.ready():
                return False  # the stream's task takes over, and waits on the connection
            chunk = stream.take_live()
            if chunk:
                direct.write(chunk)
            return True

        stream.subscriber.push = push

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
        if self._stream.end_reason == "revoked":
            log.info("event stream ended: credentials revoked", extra={"action": "sse_revoked"})
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
