"""One LISTEN connection per process, shared by every channel (S-9, S-11).

NOTIFY is a doorbell: a callback learns "something changed on this channel"
and reads the tables. After a reconnect every callback is rung once, so each
consumer catches up on whatever it missed while the connection was down. A
consumer that subscribes with `subscribe_payload` also gets the NOTIFY's payload ('' on
a reconnect's ring); the event feed uses it to skip the read (migration 0029).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from stockline import metrics
from stockline.config import Settings
from stockline.db.pool import connect_dedicated

log = logging.getLogger(__name__)


class Listener:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._callbacks: dict[str, list[Callable[[str], None]]] = {}
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.backend_pid: int | None = None

    def subscribe(self, channel: str, callback: Callable[[], None]) -> None:
        self._callbacks.setdefault(channel, []).append(lambda _payload: callback())

    def subscribe_payload(self, channel: str, callback: Callable[[str], None]) -> None:
        self._callbacks.setdefault(channel, []).append(callback)

    @property
    def state(self) -> str:
        return "connected" if self.connected.is_set() else "disconnected"

    async def run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any connection failure: reconnect with backoff
                if self.connected.is_set():
                    log.warning(
                        "listener connection lost, reconnecting",
                        extra={"action": "listener_lost", "error": type(exc).__name__},
                    )
                self.connected.clear()
                metrics.LISTENER_CONNECTED.set(0)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1

    async def _listen_once(self) -> None:
        async with await connect_dedicated(self._settings) as conn:
            self._conn = conn
            for channel in self._callbacks:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.backend_pid = conn.info.backend_pid
            if self.reconnects:
                log.info("listener reconnected", extra={"action": "listener_reconnected"})
            self.reconnects += 1
            self.connected.set()
            metrics.LISTENER_CONNECTED.set(1)
            self._ring_all()
            async for notify in conn.notifies():
                for callback in self._callbacks.get(notify.channel, ()):
                    callback(notify.payload)
        raise ConnectionError("notification stream ended")

    def _ring_all(self) -> None:
        # catch up: anything may have happened while we were not listening
        for callbacks in self._callbacks.values():
            for callback in callbacks:
                callback("")
