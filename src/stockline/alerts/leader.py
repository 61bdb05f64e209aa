"""One dispatcher per cluster (S-8): a session advisory lock on a dedicated connection.

Every process contends; the holder leads until its connection goes. Followers try
again every STOCKLINE_LEADER_RETRY_SECONDS, so a dead leader (whose backend
PostgreSQL drops with the socket, or after the keepalives below) is replaced in
seconds. The leader re-checks that it still holds the lock before each batch: a
lock connection that broke means leadership is lost, even if nobody told us.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stockline import metrics
from stockline.alerts.notifications import Term
from stockline.config import Settings
from stockline.db.pool import connect_dedicated
from stockline.db.queries import load

log = logging.getLogger(__name__)
_Q = load("alerts")

# Any stable number, distinct from the migration lock (0x5707_C411_0001).
WORKER_LOCK_KEY = 0x5707_C411_0003
LOCK_PARAMS = {"classid": WORKER_LOCK_KEY >> 32, "objid": WORKER_LOCK_KEY & 0xFFFF_FFFF}

# The lock session must die quickly with its host (S-8, SPEC §7.1: failover <= 10 s even
# when the leader's host vanishes without a FIN). On both ends: keepalives end an idle
# session after 2 + 3 x 1 s; tcp_user_timeout ends one whose data (a query, a reply)
# stays unacknowledged for 5 s, where keepalives never start and the kernel would
# retransmit for about 15 minutes. PostgreSQL then frees the lock; a follower takes it
# at its next try (STOCKLINE_LEADER_RETRY_SECONDS). Harmless on a unix socket.
LOCK_SESSION_TCP = {
    "keepalives_idle": 2,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 5000,  # ms
}
_SERVER_KEEPALIVES = (
    "SET tcp_keepalives_idle = 2",
    "SET tcp_keepalives_interval = 1",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 5000",
)


@dataclass(frozen=True)
class LeaderInfo:
    instance_id: str
    host: str
    pid: int
    since: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "host": self.host,
            "pid": self.pid,
            "since": self.since.isoformat(),
        }


async def current_leader(conn: psycopg.AsyncConnection[Any]) -> LeaderInfo | None:
    """The recorded leader, if its session still holds the lock."""
    cur = await conn.execute(_Q["select_leader"], LOCK_PARAMS)
    row = await cur.fetchone()
    if row is None or not row["holding"]:
        return None
    return LeaderInfo(row["instance_id"], row["host"], int(row["pid"]), row["since"])


class LeaderElection:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._on_change: list[Callable[[bool], None]] = []
        self.leading = False
        self.since: datetime | None = None
        # this term's fencing token (notification_worker_leader.generation)
        self.generation: int | None = None
        self.holder: LeaderInfo | None = None
        self.state = "starting"
        self._stopping = False

    def on_change(self, callback: Callable[[bool], None]) -> None:
        self._on_change.append(callback)

    def _ids(self) -> dict[str, Any]:
        s = self._settings
        return {"instance_id": s.instance_id, "host": s.hostname, "pid": s.pid}

    async def run(self) -> None:
        backoff = self._settings.leader_retry_seconds
        try:
            while not self._stopping:
                try:
                    await self._contend()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the lock connection broke: leadership is gone
                    if self._stopping:
                        break
                    self._lose(f"lock connection lost ({type(exc).__name__})")
                    self.state = "disconnected"
                    await self._close()
                    await asyncio.sleep(backoff)
        finally:
            await self.release()

    async def _contend(self) -> None:
        conn = await connect_dedicated(
            self._settings,
            tcp=LOCK_SESSION_TCP,
            row_factory=dict_row,
            application_name=f"stockline worker lock {self._settings.instance_id}"[:63],
        )
        self._conn = conn
        for statement in _SERVER_KEEPALIVES:
            await conn.execute(statement)
        self.state = "following"
        while not self._stopping:
            if self.leading:
                if not await self._holds(conn):
                    raise ConnectionError("advisory lock no longer held")
            else:
                cur = await conn.execute(_Q["lock_try_worker"], {"key": WORKER_LOCK_KEY})
                row = await cur.fetchone()
                if row and row["acquired"]:
                    await self._become_leader(conn)
                else:
                    self.holder = await current_leader(conn)
            await asyncio.sleep(self._settings.leader_retry_seconds)

    async def _holds(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        async with asyncio.timeout(self._settings.db_connect_timeout):
            cur = await conn.execute(_Q["select_lock_held"], LOCK_PARAMS)
            row = await cur.fetchone()
        return bool(row and row["held"])

    async def _become_leader(self, conn: psycopg.AsyncConnection[Any]) -> None:
        cur = await conn.execute(_Q["upsert_leader"], self._ids())
        row = await cur.fetchone()
        self.since = row["since"] if row else None
        self.generation = int(row["generation"]) if row else None
        s = self._settings
        if self.since is not None:
            self.holder = LeaderInfo(s.instance_id, s.hostname, s.pid, self.since)
        self.leading = True
        self.state = "leading"
        metrics.WORKER_LEADER.set(1)
        log.info(
            "acquired the notification worker lock; this process now dispatches mail",
            extra={
                "action": "leader_acquired",
                "backend_pid": conn.info.backend_pid,
                **self._ids(),
            },
        )
        self._notify(True)

    def _lose(self, reason: str) -> None:
        if not self.leading:
            return
        self.leading = False
        self.holder = None
        self.since = None
        self.generation = None
        metrics.WORKER_LEADER.set(0)
        log.warning(
            "lost the notification worker lock; no longer dispatching",
            extra={"action": "leader_lost", "reason": reason, **self._ids()},
        )
        self._notify(False)

    def _notify(self, leading: bool) -> None:
        for callback in self._on_change:
            callback(leading)

    def term(self) -> Term | None:
        """The current term's fencing token, None while not leading."""
        if not self.leading or self.generation is None:
            return None
        return Term(self.generation, WORKER_LOCK_KEY)

    async def confirm(self) -> bool:
        """Before each batch: still leading? A broken lock connection says no."""
        conn = self._conn
        if not self.leading or conn is None:
            return False
        try:
            if await self._holds(conn):
                return True
            reason = "advisory lock no longer held"
        except Exception as exc:
            reason = f"lock connection lost ({type(exc).__name__})"
        self._lose(reason)
        await self._close()  # run() notices, reconnects and contends again
        return False

    async def release(self) -> None:
        """On shutdown: unlock, so a follower takes over at its next try, not after a timeout."""
        self._stopping = True
        conn, was_leading = self._conn, self.leading
        if was_leading and conn is not None and not conn.closed:
            try:
                async with asyncio.timeout(2):
                    await conn.execute(_Q["delete_leader"])
                    await conn.execute(_Q["lock_release_worker"], {"key": WORKER_LOCK_KEY})
                log.info(
                    "released the notification worker lock",
                    extra={"action": "leader_released", **self._ids()},
                )
            except Exception as exc:
                log.warning(
                    "could not release the worker lock; it goes with the connection",
                    extra={"action": "leader_release_failed", "error": type(exc).__name__},
                )
        if was_leading:
            self.leading = False
            self.generation = None
            metrics.WORKER_LEADER.set(0)
            self._notify(False)
        self.state = "stopped"
        await self._close()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def health(self) -> dict[str, Any]:
        holder = self.holder.as_dict() if self.holder else None
        return {"state": self.state, "is_leader": self.leading, "lock_holder": holder}
