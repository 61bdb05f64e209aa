"""Numbering committed events: the stream position is assigned after COMMIT (decision 0003).

The service's connections write events without a position (`stockline.event_positions
= 'after_commit'`, set in db/pool.py), so writers share no lock and commit in parallel.
`stockline_inventory_events_position_v1` then numbers every committed, unpositioned
event in one short transaction, under an advisory lock that one process holds at a time,
and rings NOTIFY once for the batch. It runs

- right after each command that wrote events. Most commands (`number_committed`, on
  their connection) answer once their events are in the stream. A purchase, the hot
  path, that its batch could not number inline (below) answers at its COMMIT and rings
  its process's positioner (`Positioner.ring`):
  the next round numbers the commits of every purchase that finished meanwhile (one
  transaction and one WAL flush for the batch, not one per purchase), and the answer
  does not wait for a second WAL flush. SPEC §3 promises order and completeness of the
  stream, not that an answer waits for it; a watcher sees the event a round later;
- on a short timer in every process (`Positioner`), so events whose writer died between
  its COMMIT and its ring, or came from elsewhere, are numbered all the same.

A batch of kiosk purchases numbers inline when the positioner lock is free (migration
0029): every commit before its statement and its own, in its own transaction. The batch
calls `mark` before it sends its statement and `settled` when it answers. A ring that
finds a statement in flight waits `defer_seconds` (5 ms) before its round, and the round
is skipped when a statement marked after that ring numbered inline; the timer's run
still comes once an interval, skipped rings or not.

Invariant of a round: it starts (takes its pool connection and calls the function) after
every ring it answers, so it covers those commits exactly as each writer's own call
would have: the function numbers what is committed when it holds the lock, or waits for
the holder and tries again (migration 0011). A ring it skips was covered by an inline
numbering whose statement was sent after that ring, so after that ring's commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from stockline import metrics
from stockline.db.queries import load

log = logging.getLogger(__name__)
_Q = load("events")

# A writer waits at most this long for the positioner lock after its commit. Normally it
# waits for one short batch; only a session holding the counter row (a decision-0001
# writer left open in psql) makes it wait longer, and then the command answers anyway:
# its events are committed and the timer numbers them once the row is free.
WAIT_MS = 1000
# What `stockline.event_positions` is set to on the service's connections.
AFTER_COMMIT = "after_commit"


@dataclass(frozen=True, slots=True)
class PositionRun:
    positioned: int
    last_id: int
    ran: bool  # False: the lock or the counter row stayed taken for the whole wait
    waiting: int  # committed events still without a position (only known when not ran)
    oldest_seconds: float | None


async def position(conn: psycopg.AsyncConnection[Any], wait_ms: int) -> PositionRun:
    async with conn.cursor(row_factory=class_row(PositionRun)) as cur:
        await cur.execute(_Q["update_event_positions"], {"wait_ms": wait_ms})
        row = await cur.fetchone()
    assert row is not None
    return row


async def number_committed(conn: psycopg.AsyncConnection[Any]) -> None:
    """Call after a command committed events (outside its transaction). Never fails the
    command: it has committed, and the timer numbers whatever this call could not."""
    try:
        run = await position(conn, WAIT_MS)
    except psycopg.Error as exc:
        log.warning(
            "numbering committed events failed; the timer will",
            extra={"action": "event_positions_failed", "error": type(exc).__name__},
        )
        metrics.EVENT_POSITION_TIMEOUTS.inc()
        return
    if not run.ran:
        held_back(run.waiting)


def held_back(waiting: int | None = None) -> None:
    """A command (or a purchase's round) could not number its events: the wait ran out."""
    metrics.EVENT_POSITION_TIMEOUTS.inc()
    log.warning(
        "event positions held back; the command's events wait for the timer",
        extra={"action": "event_positions_held_back", "waiting": waiting},
    )


class Positioner:
    """Every process numbers whatever is committed, now and then (the timer above)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        *,
        interval_seconds: float,
        warn_after_seconds: float = 5.0,
        defer_seconds: float = 0.005,
    ) -> None:
        self._pool = pool
        self._interval = interval_seconds
        self._defer = defer_seconds
        self._warn_after = warn_after_seconds
        self.runs = 0
        self.positioned = 0
        self.busy = 0  # runs that found the lock or the counter row taken
        self.errors = 0
        self.waiting = 0
        self.oldest_seconds = 0.0  # age of the oldest committed event without a position
        self.rings = 0  # commits that asked for a round (purchases)
        self.rounds = 0  # rounds run for at least one ring
        self.skipped = 0  # rounds not run: their rings were numbered inline meanwhile
        self.inline = 0  # statements that numbered their own events (and earlier commits)
        self._covered = 0  # rings up to this one were numbered inline (covered)
        self._statements = 0  # marked statements that have not answered yet
        self._last_run = 0.0  # loop time of the last round run
        self._warned = False
        self._rung = asyncio.Event()

    def ring(self) -> None:
        """A commit wrote events: number them in the next round (one is started at once
        if none runs; one that runs now may have started before the commit, so another
        follows it). Never waits; the timer covers a process that stops first."""
        self.rings += 1
        self._rung.set()

    def mark(self) -> int:
        """Rings so far; a statement sent after this call sees every one's commit. The
        statement counts as in flight until `settled`."""
        self._statements += 1
        return self.rings

    def settled(self, mark: int, *, numbered: bool) -> None:
        """The statement marked at `mark` answered (or failed). numbered: it numbered
        inline everything committed before it (migration 0029), so the rings up to
        `mark` need no round of their own."""
        self._statements -= 1
        if numbered:
            self.inline += 1
            self._covered = max(self._covered, mark)

    async def run(self) -> None:
        """The process's numbering loop: a round when rung, else every interval; a ring
        still pending when the loop is stopped gets its round before it ends (bounded)."""
        try:
            await self._loop()
        except asyncio.CancelledError:
            if self._rung.is_set():
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2 * WAIT_MS / 1000):
                        await self.run_once(WAIT_MS)
            raise

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_run = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rung.wait(), self._interval)
            if self._rung.is_set() and self._covered < self.rings and self._statements > 0:
                await asyncio.sleep(self._defer)  # a batch in flight may number them
            rung = self._rung.is_set()
            self._rung.clear()
            if rung and self._covered >= self.rings:
                if loop.time() - self._last_run < self._interval:
                    self.skipped += 1
                    continue
                rung = False  # nothing to wait for, but the timer's run is due
            try:
                result = await self.run_once(WAIT_MS if rung else None)
                if rung and not result.ran:
                    held_back(result.waiting)
            except Exception as exc:  # database away: the events wait in the table
                self.errors += 1
                log.warning(
                    "event positioner failed; retrying",
                    extra={"action": "event_positioner_failed", "error": type(exc).__name__},
                )
                await asyncio.sleep(min(self._interval, 1.0))  # not a tight loop of rings
            finally:
                if rung:
                    self.rounds += 1

    async def run_once(self, wait_ms: int | None = None) -> PositionRun:
        self._last_run = asyncio.get_running_loop().time()
        async with self._pool.connection() as conn:
            # the timer waits a little for the counter row: a run that gives up at once
            # could never measure how long a held row keeps events back
            result = await position(conn, wait_ms or max(1, int(self._interval * 1000)))
        self.runs += 1
        self.positioned += result.positioned
        if result.ran:
            self.waiting, self.oldest_seconds = 0, 0.0
        else:
            self.busy += 1
            self.waiting, self.oldest_seconds = result.waiting, result.oldest_seconds or 0.0
        metrics.EVENTS_UNPOSITIONED_SECONDS.set(self.oldest_seconds)
        self._warn(result)
        return result

    def _warn(self, result: PositionRun) -> None:
        held = self.oldest_seconds >= self._warn_after
        if held and not self._warned:
            log.warning(
                "committed events are waiting for a position: a session holds the event "
                "counter row (see pg_locks on inventory_event_counter)",
                extra={
                    "action": "event_positions_stalled",
                    "waiting": result.waiting,
                    "oldest_seconds": round(self.oldest_seconds, 1),
                },
            )
        elif not held and self._warned:
            log.info("event positions flow again", extra={"action": "event_positions_resumed"})
        self._warned = held

    def stats(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "positioned": self.positioned,
            "busy": self.busy,
            "rings": self.rings,
            "rounds": self.rounds,
            "skipped": self.skipped,
            "inline": self.inline,
            "errors": self.errors,
            "waiting": self.waiting,
            "oldest_waiting_seconds": round(self.oldest_seconds, 3),
        }
