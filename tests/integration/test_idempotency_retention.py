"""Idempotency-Keys are remembered at least 24 hours, then pruned."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from stockline.config import Settings
from stockline.inventory.ledger import prune_idempotency_keys
from tests.fixtures import aio


def test_keys_younger_than_the_window_survive_pruning(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        for key, hours in [("fresh", 1), ("day-old", 25), ("old", 49)]:
            conn.execute(
                "INSERT INTO idempotency_keys (scope, key, request_hash, created_at)"
                " VALUES ('kiosk:1', %s, '\\x00', now() - make_interval(hours => %s))",
                (key, hours),
            )

    async def prune() -> int:
        async with await psycopg.AsyncConnection.connect(
            fresh_db, autocommit=True, row_factory=dict_row
        ) as conn:
            return await prune_idempotency_keys(conn, Settings().idempotency_hours)

    assert aio.run(prune()) == 1
    with psycopg.connect(fresh_db) as conn:
        left = sorted(r[0] for r in conn.execute("SELECT key FROM idempotency_keys"))
    assert left == ["day-old", "fresh"]


def test_retention_below_24_hours_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKLINE_IDEMPOTENCY_HOURS", "12")
    with pytest.raises(ValueError, match="STOCKLINE_IDEMPOTENCY_HOURS"):
        Settings()
