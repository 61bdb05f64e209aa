"""uvicorn's httptools protocol with a deadline for request headers (slowloris).

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
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

ENV = "STOCKLINE_HEADER_TIMEOUT_SECONDS"
DEFAULT_SECONDS = 10.0


def _deadline_seconds() -> float:
    try:
        return max(0.1, float(os.environ.get(ENV, DEFAULT_SECONDS)))
    except ValueError:
        return DEFAULT_SECONDS


class HeaderDeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._header_seconds = _deadline_seconds()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

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
