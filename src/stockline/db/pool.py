"""The connection pool and the dedicated (never pooled) connections."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from stockline.config import Settings

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


def make_pool(settings: Settings) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
    return AsyncConnectionPool(
        settings.dsn(),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        # autocommit: every command opens its own `conn.transaction()`, which then is a
        # real BEGIN/COMMIT finished before the response is sent (not a savepoint inside an
        # implicit transaction that the pool would commit after the client was answered)
        kwargs={**_conn_kwargs(settings), "row_factory": dict_row, "autocommit": True},
        timeout=settings.db_connect_timeout,
        open=False,
        name="stockline",
    )


async def connect_dedicated(settings: Settings, **extra: Any) -> psycopg.AsyncConnection[Any]:
    """A connection of its own, for LISTEN or a session advisory lock."""
    return await psycopg.AsyncConnection.connect(
        settings.dsn(), autocommit=True, **_conn_kwargs(settings), **extra
    )
