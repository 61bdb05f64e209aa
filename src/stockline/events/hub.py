"""In-process fan-out of the event stream to this process's SSE subscribers (S-11).

Each event is serialised to its SSE frame once, by whoever publishes it, and
stored once in a ring shared by every subscriber. A subscriber's queue is its
window onto that ring: a cursor, bounded to `capacity` frames behind the head.
A subscriber that falls further behind is dropped (its stream ends and the
client reconnects with Last-Event-ID and replays from the database), so a slow
reader costs neither unbounded memory nor a silent gap.

Publishing hands new frames to each live subscriber in one of two ways. A subscriber
whose stream is idle (waiting for its next wake-up) and that has a `push` callback is
given them at once, inside `publish`: the callback takes the frames and writes them
to its connection, with no task to wake (a thousand streams cost a thousand writes,
not a thousand task switches). Any other subscriber, or one whose callback declines
(its connection is not taking data as fast as it comes), is woken and takes them
itself. Either way frames leave a subscriber's window in ring order, exactly once:
`push` is only called while the stream's own task is parked, so the two never both
hold frames of one subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

from stockline.errors import TooManyStreams
from stockline.events.frames import Frame


class Subscriber:
    """One open stream's place in the hub."""

    __slots__ = (
        "_on_drop",
        "beat",
        "idle",
        "owner",
        "principal",
        "push",
        "reason",
        "replaying",
        "seq",
        "wake",
    )

    def __init__(self, seq: int, owner: Hashable = None, principal: Hashable = None) -> None:
        self.owner = owner  # the credentials that opened it (ended when they are revoked)
        self.principal = principal  # who they belong to (capped)
        self.seq = seq  # ring sequence of the next frame this subscriber takes
        # still reading the table: neither woken nor dropped until Hub.resume()
        self.replaying = True
        self.wake = asyncio.Event()
        self.beat = False  # a heartbeat comment is due
        self.reason: str | None = None  # why the hub let go: "slow", "revoked", "shutdown"
        # set by the stream while its task waits for `wake`, with nothing taken unsent
        self.idle = False
        # delivers new frames at once (True), or declines and the stream is woken (False)
        self.push: Callable[[], bool] | None = None
        self._on_drop: Callable[[], None] | None = None

    def on_drop(self, callback: Callable[[], None]) -> None:
        """Called once if the hub drops this subscriber for being too slow."""
        self._on_drop = callback


class Hub:
    def __init__(self, capacity: int, *, max_per_principal: int = 0) -> None:
        self.capacity = max(1, capacity)
        self.max_per_principal = max_per_principal  # 0: no cap
        self._owners: dict[Hashable, set[Subscriber]] = {}  # credentials -> their streams
        self._per_principal: dict[Hashable, int] = {}  # who -> open streams (the cap)
        self._ring: list[Frame | None] = [None] * self.capacity
        self._head = 0  # ring sequence of the next frame to publish
        self._subs: set[Subscriber] = set()
        self.last_id = 0  # the id of the newest frame published (stream position)
        # every frame with an id <= this has left the ring (or never was in it)
        self.evicted_through = 0
        self.ready = asyncio.Event()  # set once the position is known
        self.closed = False
        self.published = 0
        self.dropped_slow = 0
        self.subscribed_total = 0
        self.pushed = 0  # times a publish wrote to an idle stream itself (no wake-up)

    def start(self, position: int) -> None:
        self.last_id = position
        self.evicted_through = position
        self.ready.set()

    def subscribe(self, owner: Hashable = None, principal: Hashable = None) -> Subscriber:
        """A subscriber that catches up from the table first, then calls resume().
        Raises TooManyStreams when `principal` already has max_per_principal open streams."""
        sub = Subscriber(self._head, owner, principal)
        if self.closed:
            sub.reason = "shutdown"
            return sub
        if principal is not None:
            count = self._per_principal.get(principal, 0)
            if self.max_per_principal and count >= self.max_per_principal:
                raise TooManyStreams()
            self._per_principal[principal] = count + 1
        if owner is not None:
            self._owners.setdefault(owner, set()).add(sub)
        self._subs.add(sub)
        self.subscribed_total += 1
        return sub

    def resume(self, sub: Subscriber, cursor: int) -> bool:
        """Continue `sub` from the ring after event `cursor`, if the ring still holds every
        frame after it; False means: read more from the table first."""
        if cursor < self.evicted_through:
            return False
        ring, cap = self._ring, self.capacity
        seq = max(0, self._head - cap)
        while seq < self._head and ring[seq % cap].id <= cursor:  # type: ignore[union-attr]
            seq += 1
        sub.seq = seq
        sub.replaying = False
        return True

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub not in self._subs:
            return
        self._subs.discard(sub)
        mine = self._owners.get(sub.owner)
        if mine is not None:
            mine.discard(sub)
            if not mine:
                del self._owners[sub.owner]
        if sub.principal is not None:
            left = self._per_principal.pop(sub.principal, 1) - 1
            if left:
                self._per_principal[sub.principal] = left

    def owners(self) -> list[Hashable]:
        """Whose credentials hold open streams here (checked for revocation)."""
        return list(self._owners)

    def end_owners(self, owners: Iterable[Hashable], reason: str = "revoked") -> int:
        """End every stream opened with these credentials; how many ended."""
        ended = 0
        for owner in owners:
            for sub in list(self._owners.get(owner, ())):
                self.unsubscribe(sub)
                sub.reason = reason
                sub.wake.set()
                ended += 1
        return ended

    def publish(self, frames: Sequence[Frame]) -> int:
        """Append frames (ids ascending, after last_id) and wake every subscriber."""
        added = 0
        for frame in frames:
            if frame.id <= self.last_id:
                continue  # already published (a catch-up read overlapping a live one)
            slot = self._head % self.capacity
            evicted = self._ring[slot]
            if evicted is not None:
                self.evicted_through = evicted.id
            self._ring[slot] = frame
            self._head += 1
            self.last_id = frame.id
            added += 1
        if not added:
            return 0
        self.published += added
        oldest = self._head - self.capacity
        for sub in list(self._subs):
            if sub.replaying:
                continue
            if sub.seq < oldest:
                self._drop(sub, "slow")
            elif sub.idle and sub.push is not None and self._pushed(sub, sub.push):
                self.pushed += 1
            else:
                sub.wake.set()
        return added

    @staticmethod
    def _pushed(sub: Subscriber, push: Callable[[], bool]) -> bool:
        try:
            return push()
        except Exception:  # a broken connection: its own task finds out and ends
            sub.push = None
            return False

    def take(self, sub: Subscriber) -> list[Frame] | None:
        """Frames this subscriber has not taken yet; None once the hub let go of it."""
        if sub.reason is not None:
            return None
        if sub.replaying:
            return []
        head = self._head
        if sub.seq == head:
            return []
        if head - sub.seq > self.capacity:
            self._drop(sub, "slow")
            return None
        ring, cap = self._ring, self.capacity
        frames = [ring[s % cap] for s in range(sub.seq, head)]
        sub.seq = head
        return frames  # type: ignore[return-value]  # every slot in the window is filled

    def beat(self) -> None:
        """Ask every live stream for a heartbeat comment (proxies keep idle streams open)."""
        for sub in self._subs:
            if not sub.replaying:
                sub.beat = True
                sub.wake.set()

    def close(self, reason: str = "shutdown") -> None:
        """End every stream (SIGTERM): each ends its response cleanly."""
        self.closed = True
        for sub in list(self._subs):
            sub.reason = reason
            sub.wake.set()
        self._subs.clear()
        self._owners.clear()
        self._per_principal.clear()

    def _drop(self, sub: Subscriber, reason: str) -> None:
        self.unsubscribe(sub)
        sub.reason = reason
        sub.wake.set()
        self.dropped_slow += 1
        callback, sub._on_drop = sub._on_drop, None
        if callback is not None:
            callback()

    def stats(self) -> dict[str, Any]:
        return {
            "ready": self.ready.is_set(),
            "position": self.last_id,
            "subscribers": len(self._subs),
            "subscribed_total": self.subscribed_total,
            "published": self.published,
            "dropped_slow": self.dropped_slow,
            "pushed": self.pushed,
            "queue_capacity": self.capacity,
        }
