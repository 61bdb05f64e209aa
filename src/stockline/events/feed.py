"""The feed: moves newly positioned events from the table into this process's hub.

Data flows one way: a command commits and its events are numbered (positions.py), the
positioner rings NOTIFY, the shared Listener rings the feed, the feed reads the table
after the hub's position and publishes, and the hub wakes the streams.

A batch of purchases that numbers its own events (migration 0029) sends them in its
NOTIFY's payload: `events/1 FIRST LAST`, then one line per event, "id TAB type TAB
payload", ids FIRST..LAST in order. NOTIFY arrives in commit order, which is then
position order. The feed publishes such a payload at once when it follows on from the
hub's position (its first id at most one past the hub's last), without reading the
table; anything else (an empty doorbell, a payload after a gap, one it cannot parse)
makes it read the table, as every NOTIFY did before, and so does a payload of more
events than one read would publish at once. A table read in flight meanwhile is
harmless: the hub skips what it has already published, and the read's rows follow on
from where it started.
"""

from __future__ import annotations

import asyncio
import logging

from stockline.events.frames import Frame, event_frame
from stockline.events.hub import Hub
from stockline.events.replay import Pool, read_after, read_position

log = logging.getLogger(__name__)
PAYLOAD_FORMAT = "events/1"


def carried(payload: str) -> list[Frame] | None:
    """The events a NOTIFY payload carries (migration 0029), or None: read the table."""
    head, _, body = payload.partition("\n")
    try:
        name, first, last = head.split(" ")
        if name != PAYLOAD_FORMAT or not body:
            return None
        frames = []
        for n, line in enumerate(body.split("\n"), start=int(first)):
            event_id, event, data = line.split("\t", 2)
            if int(event_id) != n:
                return None
            frames.append(event_frame(n, event, data))
    except ValueError:
        return None
    return frames if frames[-1].id == int(last) else None


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
        self.carried = 0  # NOTIFYs published from their payload, without a read
        self.errors = 0

    def ring(self) -> None:
        self._wake.set()

    def notified(self, payload: str) -> None:
        """A NOTIFY on the events channel: publish the events it carries when they follow
        on from the hub's position, else read the table (module docstring)."""
        try:
            frames = carried(payload) if payload else None
            hub = self._hub
            if (
                frames is not None
                and len(frames) <= self._batch
                and hub.ready.is_set()
                and frames[0].id <= hub.last_id + 1
            ):
                hub.publish(frames)
                self.carried += 1
                return
        except Exception:  # never the shared listener's problem: the table has them
            log.exception("publishing a NOTIFY's events failed; reading the table")
        self.ring()

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
