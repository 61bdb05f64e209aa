"""The connection pool and the dedicated (never pooled) connections."""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import Any, Self

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from stockline.config import Settings

log = logging.getLogger(__name__)

# Dead peers are noticed in seconds, not in the kernel's two hours (S-8, S-11).
KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}


def _conn_kwargs(settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"connect_timeout": max(1, int(settings.db_connect_timeout))}
    if "host=/" not in settings.dsn() and "@/" not in settings.dsn():
        kwargs.update(KEEPALIVES)
    return kwargs


# While the database refuses connections, a request waits at most this long for one
# (then 503 problem+json) instead of the pool's full timeout.
FAIL_FAST_SECONDS = 1.0


class Pool(AsyncConnectionPool[psycopg.AsyncConnection[Any]]):
    """psycopg_pool's pool, made to behave through a database restart (issue 7).

    - Fail fast: psycopg_pool lets a request wait its whole `timeout` for a connection
      even when every attempt to open one is refused. Every connection attempt here
      records whether it worked; while the last one failed (`reachable` is False), a
      request waits at most about FAIL_FAST_SECONDS more, and gets its 503.
    - Recover soon: the pool retries a failed connection with a backoff that doubles
      without bound (1, 2, 4 … 64 s), so after a long outage it could take a minute to
      notice the database is back. `reconnect_timeout` (set in make_pool) bounds each
      retry series; after it a waiting request starts a fresh one at once.
    - No stale connections: idle connections opened before a restart are dead. When a
      connection comes back broken, or the database is reachable again, `check()` drops
      the dead idle ones at once, so after a restart one request gets a 503, not one per
      pooled connection (a per-checkout `check=` would cost a round trip per request).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.reachable = True
        self._recheck: asyncio.Task[None] | None = None
        super().__init__(*args, connection_class=_tracking_connection(self), **kwargs)

    def _connect_result(self, ok: bool) -> None:
        if ok == self.reachable:
            return
        self.reachable = ok
        if not ok:
            log.warning(
                "database unreachable; failing requests fast until it is back",
                extra={"action": "db_unreachable"},
            )
            return
        log.info("database reachable again", extra={"action": "db_reachable"})
        self._check_idle()

    def _check_idle(self) -> None:
        if self._recheck is None or self._recheck.done():
            self._recheck = asyncio.get_running_loop().create_task(self.check())

    async def putconn(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if conn.broken:
            # one connection died with its server: its idle siblings most likely did too
            self._check_idle()
        await super().putconn(conn)

    async def getconn(self, timeout: float | None = None) -> psycopg.AsyncConnection[Any]:  # noqa: ASYNC109 - the signature psycopg_pool defines
        # Wait in slices of FAIL_FAST_SECONDS, so that a request already waiting when the
        # database goes away also gives up about a second later, not at its deadline.
        deadline = monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - monotonic()
            try:
                return await super().getconn(max(0.01, min(remaining, FAIL_FAST_SECONDS)))
            except PoolTimeout:
                if not self.reachable or deadline - monotonic() <= 0:
                    raise


def _tracking_connection(pool: Pool) -> type[psycopg.AsyncConnection[Any]]:
    class TrackedConnection(psycopg.AsyncConnection[Any]):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
            try:
                conn = await super().connect(conninfo, **kwargs)
            except psycopg.OperationalError:
                pool._connect_result(False)
                raise
            pool._connect_result(True)
            return conn

    return TrackedConnection


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    # events written on the service's connections get their stream position after
    # COMMIT, so writers share no lock (migration 0009, decision 0003)
    await conn.execute("SET stockline.event_positions = 'after_commit'")


def make_pool(settings: Settings) -> Pool:
    return Pool(
        settings.dsn(),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        # autocommit: every command opens its own `conn.transaction()`, which then is a
        # real BEGIN/COMMIT finished before the response is sent (not a savepoint inside an
        # implicit transaction that the pool would commit after the client was answered)
        kwargs={**_conn_kwargs(settings), "row_factory": dict_row, "autocommit": True},
        timeout=settings.db_connect_timeout,
        reconnect_timeout=max(2.0, settings.db_connect_timeout),
        open=False,
        configure=_configure,
        name="stockline",
    )


async def connect_dedicated(
    settings: Settings, *, tcp: dict[str, Any] | None = None, **extra: Any
) -> psycopg.AsyncConnection[Any]:
    """A connection of its own, for LISTEN or a session advisory lock. `tcp` overrides
    the keepalive parameters on a TCP connection (a unix socket has none)."""
    kwargs = _conn_kwargs(settings)
    if tcp and "keepalives" in kwargs:
        kwargs.update(tcp)
    return await psycopg.AsyncConnection.connect(settings.dsn(), autocommit=True, **kwargs, **extra)
