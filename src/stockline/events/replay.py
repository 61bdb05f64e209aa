"""Reading the durable stream by position: replay for one client, catch-up for the feed.

`inventory_events.id` is the stream position. Positions are assigned after commit, one
batch at a time, by whichever process holds the positioner lock (decision 0003), so they
become visible in position order and `WHERE id > n ORDER BY id` never steps over a late
commit: a late commit simply gets a later position. Each read
is a short transaction on a pooled connection: no stream holds a connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from stockline.db.queries import load
from stockline.events.frames import Frame, event_frame

log = logging.getLogger(__name__)
_Q = load("events")
Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]
NO_LIMIT = 2**63 - 1


@dataclass(frozen=True)
class Batch:
    last_id: int  # the newest committed id when the batch was read
    pruned_through: int  # ids <= this may be gone (retention)
    frames: list[Frame]


@dataclass(frozen=True)
class StateSnapshot:
    position: int  # the stream position the inventory reflects
    pruned_through: int
    inventory_json: str  # a JSON array of every product's snapshot


async def read_after(pool: Pool, after: int, *, upto: int = NO_LIMIT, limit: int = 1000) -> Batch:
    """Events with after < id <= upto, oldest first, at most `limit`, plus the watermarks."""
    async with pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(_Q["select_events_after"], {"after": after, "upto": upto, "limit": limit})
        rows = await cur.fetchall()
    frames = [event_frame(r[2], r[3], r[4]) for r in rows if r[2] is not None]
    return Batch(int(rows[0][0]), int(rows[0][1]), frames)


async def read_position(pool: Pool) -> tuple[int, int]:
    async with pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(_Q["select_stream_position"])
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def read_state(pool: Pool, *, wait_ms: int = 2000) -> StateSnapshot:
    """Every product's snapshot and the position it reflects, from one snapshot of the
    database: a client renders it, then applies events with larger ids (no window).

    Events committed but not yet numbered are numbered in that same statement, so the
    inventory holds exactly the events up to the position (decision 0003)."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(_Q["set_lock_timeout"], {"ms": wait_ms})
        await conn.execute(_Q["lock_event_state"])
        await conn.execute(_Q["set_numbering_plan"])
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(_Q["select_positioned_state"])
            row = await cur.fetchone()
            assert row is not None
            if row[2]:
                await cur.execute(_Q["notify_events"])
    return StateSnapshot(int(row[0]), int(row[1]), str(row[3]))


class ReplaySource:
    """What a stream reads from the table: batches after its cursor, and the state."""

    def __init__(self, pool: Pool, *, batch: int) -> None:
        self._pool = pool
        self._batch = batch

    async def read_after(self, after: int, upto: int) -> Batch:
        return await read_after(self._pool, after, upto=upto, limit=self._batch)

    async def read_state(self) -> StateSnapshot:
        return await read_state(self._pool)
