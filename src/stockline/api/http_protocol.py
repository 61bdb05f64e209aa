"""uvicorn's httptools protocol with a deadline for request headers (slowloris),
answers sent in one write, and a direct way for event streams to write their body.

uvicorn times out idle keep-alive connections, but not a client that connects and then
sends its headers a byte at a time: each byte cancels the keep-alive timer, and a fresh
connection has none. Behind nginx that never matters (nginx buffers the headers and has
client_header_timeout); without nginx, a few hundred such connections would hold every
file descriptor. This protocol gives every request STOCKLINE_HEADER_TIMEOUT_SECONDS from
the moment the server waits for it (connection made, or the previous answer sent) to its
last header line, then closes the connection.

uvicorn builds protocols in each worker process from an import string, so the deadline
comes from the environment (where `stockline serve` puts the settings) and not from here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import MutableMapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

ENV = "STOCKLINE_HEADER_TIMEOUT_SECONDS"
DEFAULT_SECONDS = 10.0


def _deadline_seconds() -> float:
    try:
        return max(0.1, float(os.environ.get(ENV, DEFAULT_SECONDS)))
    except ValueError:
        return DEFAULT_SECONDS


class _HeadWithBody:
    """The connection's transport, except that a response's head waits for its body.

    uvicorn writes a response's status line and headers, then its body, as two writes:
    two sends, two wakeups of the client, two loopback packets for one small answer.
    Here the head is held until the end of the event-loop step that wrote it, and goes
    out with whatever the same step wrote after it (an answer's whole body; a stream's
    first frame, if it had one ready). Later writes go straight through, so a stream's
    frames are not delayed."""

    __slots__ = ("_held", "_hold_next", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._hold_next = False

    def hold_next_write(self) -> None:
        self._hold_next = True

    def write(self, data: bytes) -> None:
        if self._held:
            self._held.append(data)
        elif self._hold_next:
            self._hold_next = False
            self._held.append(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_CYCLE = "stockline.cycle"  # the key in scope["extensions"]


class DirectBody:
    """Writes a started, chunked streaming response's body straight to its connection,
    the chunk framing uvicorn would add included, without going through ASGI `send` (an
    await per chunk, in the response's own task). `ready()` says whether a write now is
    in order: the response has started and not ended, the client is still there, and the
    connection is not holding back writes (flow control: the peer reads too slowly)."""

    __slots__ = ("_cycle",)

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle

    def ready(self) -> bool:
        c = self._cycle
        return (
            c.response_started
            and not c.response_complete
            and not c.disconnected
            and c.chunked_encoding is True
            and not c.flow.write_paused
            and not c.transport.is_closing()
        )

    def write(self, body: bytes) -> None:
        self._cycle.transport.write(b"%x\r\n%b\r\n" % (len(body), body))


def direct_body(scope: MutableMapping[str, Any]) -> DirectBody | None:
    """The DirectBody of this request, when it is served by HeaderDeadlineProtocol."""
    cycle = scope.get("extensions", {}).get(_CYCLE)
    return DirectBody(cycle) if isinstance(cycle, RequestResponseCycle) else None


class HeaderDeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._header_seconds = _deadline_seconds()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _HeadWithBody(transport, self.loop)  # type: ignore[assignment]
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self.transport.hold_next_write()  # type: ignore[attr-defined]
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not for an upgrade
            self.scope.setdefault("extensions", {})[_CYCLE] = cycle  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request on this keep-alive connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self._header_deadline = self.loop.call_later(self._header_seconds, self._expire)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expire(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
