"""SSE framing and one client's stream: optional snapshot, replay, then live.

The hand-over from the table to the hub has no race: the stream registers with
the hub before it reads anything, reads the table after its cursor until the
hub's ring still holds every later frame (Hub.resume), then continues from the
ring, skipping frames it already sent. A replay may take as long as it needs:
the hub neither wakes nor drops a subscriber that is still reading the table.
Ids only grow along a stream; a duplicate or a gap would need the hub or the
table to reorder ids, which the counter lock rules out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Protocol

from stockline.events.hub import Frame, Hub, Subscriber

if TYPE_CHECKING:
    from stockline.events.replay import Batch, StateSnapshot

log = logging.getLogger(__name__)


def event_frame(event_id: int, event: str, data: str) -> Frame:
    # one `data:` line per line of data, as the SSE grammar requires
    lines = data.split("\n")
    body = "".join(f"data: {line}\n" for line in lines)
    return Frame(event_id, f"id: {event_id}\nevent: {event}\n{body}\n".encode())


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


def retry_hint(milliseconds: int) -> bytes:
    return f"retry: {milliseconds}\n\n".encode()


HEARTBEAT = comment("heartbeat")


class Source(Protocol):
    async def read_after(self, after: int, upto: int) -> Batch: ...
    async def read_state(self) -> StateSnapshot: ...


class EventStream:
    """Yields the byte chunks of one SSE response. Subscribe happens in __init__,
    before any database read, so nothing committed later can fall between them."""

    def __init__(
        self,
        hub: Hub,
        *,
        source: Source,
        after: int | None,
        snapshot: bool,
        retry_ms: int,
        banner: str,
        on_deliver: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._hub = hub
        self.subscriber: Subscriber = hub.subscribe()
        self._source = source
        self._after = after
        self._snapshot = snapshot
        self._retry_ms = retry_ms
        self._banner = banner
        self._on_deliver = on_deliver
        self.cursor = -1  # id of the last event sent
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
            await sub.wake.wait()
        if sub.reason == "shutdown":
            yield comment("server shutting down; reconnect with Last-Event-ID")

    async def _start(self) -> AsyncIterator[bytes]:
        hub, sub = self._hub, self.subscriber
        first_batch = self._after is not None
        if self._after is not None:
            self.cursor = self._after
        elif self._snapshot:
            state = await self._source.read_state()
            yield self._state_frame("snapshot", state, {})
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
                # ids are dense, so this needs rows missing below the ring: start afresh
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
        return self._state_frame("reset", state, extra)

    @staticmethod
    def _state_frame(event: str, state: StateSnapshot, extra: dict[str, str]) -> bytes:
        # the inventory array is JSON text from PostgreSQL: splice it in, no re-encoding
        fields = [*(f'"{k}": {v}' for k, v in extra.items())]
        fields.append(f'"last_event_id": {state.position}')
        fields.append(f'"inventory": {state.inventory_json}')
        return event_frame(state.position, event, "{" + ", ".join(fields) + "}").data

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
