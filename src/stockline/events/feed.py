"""The feed: moves newly positioned events from the table into this process's hub.

Data flows one way: a command commits and its events are numbered (positions.py), the
positioner rings NOTIFY, the shared Listener rings the feed, the feed reads the table
after the hub's position and publishes, and the hub wakes the streams.
"""

from __future__ import annotations

import asyncio
import logging

from stockline.events.hub import Hub
from stockline.events.replay import Pool, read_after, read_position

log = logging.getLogger(__name__)


class Feed:
    """Moves newly committed events from the table into the hub.

    Rung by the Listener on every NOTIFY inventory_events and after every
    (re)connect; it also polls now and then, so a dead listener delays events
    but never loses them.
    """

    def __init__(self, pool: Pool, hub: Hub, *, poll_seconds: float = 5.0) -> None:
        self._pool = pool
        self._hub = hub
        self._poll_seconds = poll_seconds
        # a batch never overruns a subscriber's whole window at once
        self._batch = max(1, min(500, hub.capacity // 2))
        self._wake = asyncio.Event()
        self._wake.set()  # read the position at once
        self.reads = 0
        self.errors = 0

    def ring(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with asyncio.timeout(self._poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.catch_up()
                backoff = 0.1
            except Exception as exc:  # database away: keep trying, the table keeps the events
                self.errors += 1
                log.warning(
                    "event feed read failed; retrying",
                    extra={"action": "event_feed_failed", "error": type(exc).__name__},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._wake.set()

    async def catch_up(self) -> None:
        hub = self._hub
        if not hub.ready.is_set():
            last_id, _ = await read_position(self._pool)
            hub.start(last_id)
            log.info("event hub ready", extra={"action": "event_hub_ready", "position": last_id})
        while True:
            batch = await read_after(self._pool, hub.last_id, limit=self._batch)
            self.reads += 1
            hub.publish(batch.frames)
            if len(batch.frames) < self._batch:
                return
