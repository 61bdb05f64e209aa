"""One client's stream: optional snapshot, replay from the table, then live from the hub.

The hand-over from the table to the hub has no race: the stream registers with the hub
before it reads anything, reads the table after its cursor until the hub's ring still
holds every later frame (Hub.resume), then continues from the ring, skipping frames it
already sent. A replay may take as long as it needs: the hub neither wakes nor drops a
subscriber that is still reading the table. Positions only grow along a stream; a
duplicate or a gap would need the hub or the table to reorder positions, which the
positioner rules out (decision 0003).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Protocol

from stockline.errors import InvalidInput
from stockline.events.frames import HEARTBEAT, Frame, comment, retry_hint, state_frame
from stockline.events.hub import Hub, Subscriber
from stockline.events.replay import Batch, StateSnapshot

log = logging.getLogger(__name__)

# the last comment of a stream the server ends, by reason
_GOODBYE = {
    "shutdown": comment("server shutting down; reconnect with Last-Event-ID"),
    "revoked": comment("credentials revoked or expired; sign in again"),
}


class Source(Protocol):
    async def read_after(self, after: int, upto: int) -> Batch: ...
    async def read_state(self) -> StateSnapshot: ...


class EventStream:
    """Yields the byte chunks of one SSE response."""

    def __init__(
        self,
        hub: Hub,
        subscriber: Subscriber,
        *,
        source: Source,
        after: int | None,
        snapshot: bool,
        retry_ms: int,
        banner: str,
        on_deliver: Callable[[int], None] = lambda n: None,
    ) -> None:
        # the caller subscribed before any database read, so nothing committed later can
        # fall between the subscription and the replay
        self._hub = hub
        self.subscriber = subscriber
        self._source = source
        self._after = after
        self._snapshot = snapshot
        self._retry_ms = retry_ms
        self._banner = banner
        self._on_deliver = on_deliver
        self.cursor = -1  # position of the last event sent
        self.delivered = 0

    @property
    def end_reason(self) -> str | None:
        return self.subscriber.reason

    def close(self) -> None:
        self._hub.unsubscribe(self.subscriber)

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        sub = self.subscriber
        yield retry_hint(self._retry_ms) + comment(self._banner)
        if sub.reason is not None:
            return
        async for chunk in self._start():
            yield chunk
        hub = self._hub
        while True:  # live: one pass per wake-up, every frame taken at once
            sub.wake.clear()
            frames = hub.take(sub)
            if frames is None:
                break
            if frames:
                sub.beat = False  # data keeps the connection alive as well as a comment
                chunk = self._deliver(frames)
                if chunk:
                    yield chunk
                    continue
            if sub.beat:
                sub.beat = False
                yield HEARTBEAT
                continue
            sub.idle = True  # the hub may push to the connection meanwhile (hub.py)
            try:
                await sub.wake.wait()
            finally:
                sub.idle = False
        goodbye = _GOODBYE.get(sub.reason or "")
        if goodbye is not None:
            yield goodbye

    async def _start(self) -> AsyncIterator[bytes]:
        hub, sub = self._hub, self.subscriber
        first_batch = self._after is not None
        if self._after is not None:
            self.cursor = self._after
        elif self._snapshot:
            state = await self._source.read_state()
            yield state_frame("snapshot", state.position, state.inventory_json, {}).data
            self.cursor = state.position
        else:
            self.cursor = hub.last_id
        # Read the table until the hub's ring holds everything after the cursor, then
        # continue from the ring. The subscriber is registered all along, so nothing
        # published meanwhile can fall between the two; frames already sent are skipped.
        while first_batch or not hub.resume(sub, self.cursor):
            if sub.reason is not None:
                return
            batch = await self._source.read_after(self.cursor, max(hub.last_id, self.cursor))
            unknown = first_batch and self.cursor > batch.last_id
            first_batch = False
            if unknown or self.cursor < batch.pruned_through:
                yield await self._reset(batch)
            elif batch.frames:
                yield self._deliver(batch.frames)
            elif not hub.resume(sub, self.cursor):
                # positions are dense, so this needs rows missing below the ring: start afresh
                yield await self._reset(batch)

    async def _reset(self, batch: Batch) -> bytes:
        reason = "unknown-position" if self.cursor > batch.last_id else "retention"
        state = await self._source.read_state()
        extra = {
            "reason": f'"{reason}"',
            "requested_last_event_id": str(self.cursor),
            "oldest_available_id": str(state.pruned_through + 1),
        }
        log.info(
            "stream reset",
            extra={"action": "sse_reset", "reason": reason, "requested": self.cursor},
        )
        self.cursor = state.position
        return state_frame("reset", state.position, state.inventory_json, extra).data

    def take_live(self) -> bytes:
        """What the hub holds for this live stream, as one chunk (b"" if nothing): for a
        `Subscriber.push` callback, which writes it while the stream's task is parked."""
        frames = self._hub.take(self.subscriber)
        if not frames:
            return b""
        self.subscriber.beat = False
        return self._deliver(frames)

    def _deliver(self, frames: list[Frame]) -> bytes:
        cursor = self.cursor
        if frames[0].id <= cursor:
            frames = [f for f in frames if f.id > cursor]
            if not frames:
                return b""
        self.cursor = frames[-1].id
        self.delivered += len(frames)
        self._on_deliver(len(frames))
        if len(frames) == 1:
            return frames[0].data
        return b"".join(f.data for f in frames)


ID_MAX = 2**63 - 1


def resume_position(header: str | None, query: str | int | None) -> int | None:
    """The position a stream resumes after: the Last-Event-ID header (what EventSource
    sends on reconnect, so newer than the URL's) or else `?last_event_id=`. None: start
    fresh. Raises InvalidInput for anything but a non-negative integer id."""
    raw = header if header is not None and header.strip() else query
    if raw is None or isinstance(raw, int):
        if raw is not None and not 0 <= raw <= ID_MAX:
            raise InvalidInput(_BAD_ID)
        return raw
    value = raw.strip()
    # isascii: str.isdigit() also says yes to "²" (a latin-1 header byte), which int() refuses
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > ID_MAX:
        raise InvalidInput(_BAD_ID)
    return int(value)


_BAD_ID = "Last-Event-ID must be an event id (a non-negative integer)"
