"""Retention of inventory_events (STOCKLINE_EVENT_RETENTION_DAYS), by one process at a time.

Every process runs this loop; a transaction-level advisory lock of its own lets
exactly one of them delete a batch while the others skip that round. Each batch
deletes the oldest expired ids and raises inventory_event_counter.pruned_through
in the same transaction, so a reader sees the rows or the watermark, never a
silent hole (a client asking for an older id gets a `reset` event).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from stockline.db.queries import load

log = logging.getLogger(__name__)
_Q = load("events")

# Any stable number distinct from the other advisory locks (migrations: …0001).
PRUNE_LOCK_KEY = 0x5707_C411_0E7E


class Retention:
    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        *,
        retention_days: float,
        interval_seconds: float,
        batch: int = 5000,
    ) -> None:
        self._pool = pool
        self._retention_seconds = retention_days * 86400.0
        self._interval = interval_seconds
        self._batch = batch
        self.pruned_through = 0
        self.last_deleted = 0

    async def run(self) -> None:
        # spread the first round: instances started together need not all try at once
        await asyncio.sleep(random.uniform(0, min(self._interval, 5.0)))
        while True:
            try:
                await self.prune_once()
            except Exception as exc:
                log.warning(
                    "event retention failed",
                    extra={"action": "events_prune_failed", "error": type(exc).__name__},
                )
            await asyncio.sleep(self._interval)

    async def prune_once(self) -> int:
        """Delete expired events in batches; 0 when nothing expired or another process prunes."""
        total = 0
        while True:
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(_Q["lock_prune"], {"key": PRUNE_LOCK_KEY})
                row = await cur.fetchone()
                if row is None or not row["locked"]:
                    break
                cur = await conn.execute(
                    _Q["delete_expired_events"],
                    {"retention_seconds": self._retention_seconds, "limit": self._batch},
                )
                gone = await cur.fetchone()
                deleted = int(gone["deleted"]) if gone else 0
                if not deleted or gone is None:
                    break
                cur = await conn.execute(_Q["update_pruned_through"], {"upto": gone["upto"]})
                mark = await cur.fetchone()
                self.pruned_through = int(mark["pruned_through"]) if mark else self.pruned_through
            total += deleted
            if deleted < self._batch:
                break
        if total:
            self.last_deleted = total
            log.info(
                "expired events pruned",
                extra={
                    "action": "events_pruned",
                    "deleted": total,
                    "pruned_through": self.pruned_through,
                },
            )
        return total
