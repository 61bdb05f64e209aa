"""The events room as one process-wide component: hub, feed, positioner, retention, the
revocation check, and the stream factory.

The app's lifespan builds it, subscribes it to the shared listener (`attach`),
starts its `runners` and ends every stream with `stop`; `stop_on_signals` ends
the streams as soon as SIGTERM arrives, because uvicorn waits for open
responses (up to timeout_graceful_shutdown) before it runs the lifespan's shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from stockline import metrics, stream_tokens
from stockline.auth import Principal, StreamOwner, valid_stream_owners
from stockline.config import Settings
from stockline.db.listen import Listener
from stockline.errors import DatabaseUnavailable
from stockline.events import replay
from stockline.events.feed import Feed
from stockline.events.hub import Hub
from stockline.events.positions import Positioner
from stockline.events.retention import Retention
from stockline.events.stream import EventStream

log = logging.getLogger(__name__)
CHANNEL = "inventory_events"
# How often open streams' credentials are re-checked: a revoked kiosk, a disabled admin
# or a reset password ends its streams within this (plus one round trip), under 5 s.
REVOKE_CHECK_SECONDS = 2.0


class EventsService:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        listener: Listener,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._listener = listener
        self.hub = Hub(
            settings.sse_queue_size, max_per_principal=settings.max_streams_per_principal
        )
        self.feed = Feed(pool, self.hub)
        self.positioner = Positioner(pool, interval_seconds=settings.event_position_seconds)
        self.retention = Retention(
            pool,
            retention_days=settings.event_retention_days,
            interval_seconds=settings.event_prune_seconds,
        )
        self._key: bytes | None = None
        # shared by every stream of this process: a stream costs a cursor, not closures
        self._source = replay.ReplaySource(pool, batch=1000)
        self._banner = f"stockline events instance={settings.instance_id} pid={os.getpid()}"

    @property
    def stopping(self) -> bool:
        return self.hub.closed

    def attach(self, listener: Listener) -> None:
        """Subscribe the feed to the shared listener (before it connects)."""
        listener.subscribe_payload(CHANNEL, self.feed.notified)

    def runners(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """The loops the lifespan's task owner runs, by task name."""
        return {
            "events-feed": self.feed.run,
            "events-positioner": self.positioner.run,
            "events-retention": self.retention.run,
            "events-heartbeats": self._heartbeats,
            "events-revocations": self._revocations,
        }

    async def _revocations(self) -> None:
        while True:
            await asyncio.sleep(REVOKE_CHECK_SECONDS)
            try:
                await self.end_revoked_streams()
            except Exception as exc:  # database away: the streams' credentials wait a round
                log.warning(
                    "stream credential check failed",
                    extra={"action": "sse_revoke_check_failed", "error": type(exc).__name__},
                )

    async def end_revoked_streams(self) -> int:
        owners = [o for o in self.hub.owners() if isinstance(o, StreamOwner)]
        if not owners:
            return 0
        async with self._pool.connection() as conn:
            valid = await valid_stream_owners(conn, owners)
        ended = self.hub.end_owners([o for o in owners if o not in valid])
        if ended:
            log.info(
                "event streams ended: credentials revoked",
                extra={"action": "sse_streams_revoked", "streams": ended},
            )
        return ended

    async def _heartbeats(self) -> None:
        # one timer for every stream of the process, not one per stream
        while True:
            await asyncio.sleep(self._settings.sse_heartbeat_seconds)
            self.hub.beat()

    async def open_stream(
        self, principal: Principal, *, after: int | None, snapshot: bool
    ) -> EventStream:
        """A stream for an authenticated principal; DatabaseUnavailable while this process
        stops or has no position yet, TooManyStreams over the per-principal cap."""
        if self.stopping:
            raise DatabaseUnavailable("this instance is shutting down; reconnect")
        try:
            async with asyncio.timeout(self._settings.db_connect_timeout):
                await self.hub.ready.wait()
        except TimeoutError as exc:
            raise DatabaseUnavailable("the event stream is not ready yet") from exc
        # subscribed before any database read: nothing committed later falls in between
        owner = principal.stream_owner
        subscriber = self.hub.subscribe(owner, (owner.kind, owner.id))
        return EventStream(
            self.hub,
            subscriber,
            source=self._source,
            after=after,
            snapshot=snapshot,
            retry_ms=self._settings.sse_retry_ms,
            banner=self._banner,
            on_deliver=metrics.EVENTS_DELIVERED.inc,
        )

    async def signing_key(self) -> bytes:
        if self._key is None:
            async with self._pool.connection() as conn:
                self._key = await stream_tokens.load_key(conn)
        return self._key

    def stop(self) -> None:
        if not self.hub.closed:
            log.info(
                "ending event streams",
                extra={"action": "sse_shutdown", "subscribers": self.hub.stats()["subscribers"]},
            )
            self.hub.close("shutdown")

    def health(self) -> dict[str, Any]:
        return {
            "hub": self.hub.stats(),
            "listener": {
                "state": self._listener.state,
                "backend_pid": self._listener.backend_pid,
                "connects": self._listener.reconnects,
            },
            "feed": {
                "reads": self.feed.reads,
                "carried": self.feed.carried,
                "errors": self.feed.errors,
            },
            "positions": self.positioner.stats(),
            "retention": {
                "days": self._settings.event_retention_days,
                "pruned_through": self.retention.pruned_through,
            },
        }


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    """Run `stop` in the loop on SIGTERM/SIGINT, then whatever handler was there (uvicorn's)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue  # default or ignored: not ours to change

        def handler(
            signum: int,
            frame: FrameType | None,
            previous: Callable[[int, FrameType | None], Any] = previous,
        ) -> None:
            loop.call_soon_threadsafe(stop)
            previous(signum, frame)

        signal.signal(sig, handler)
