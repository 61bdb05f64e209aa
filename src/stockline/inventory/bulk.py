"""Bulk actions on selected products (SPEC 7.3 / issue 13): adjust, threshold,
deactivate, activate. All or nothing in one transaction; an adjustment writes one
ledger row per product, exactly as one adjustment each would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row

from stockline.db.queries import load
from stockline.errors import NotFound
from stockline.events.positions import number_committed
from stockline.inventory.ledger import retry_transient
from stockline.inventory.models import LedgerEntry, Product

_Q = load("inventory")
BulkAction = Literal["adjust", "threshold", "deactivate", "activate"]


@dataclass(frozen=True)
class BulkResult:
    products: list[Product]
    entries: list[LedgerEntry]


async def _lock(conn: psycopg.AsyncConnection[Any], ids: list[int]) -> None:
    cur = await conn.execute(_Q["lock_products_by_id"], {"ids": ids})
    found = {int(r["id"]) for r in await cur.fetchall()}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"no such product(s): {', '.join(map(str, missing[:20]))}")


async def apply_bulk(
    conn: psycopg.AsyncConnection[Any],
    product_ids: list[int],
    action: BulkAction,
    *,
    admin_id: int,
    delta: int | None = None,
    reason: str | None = None,
    low_stock_threshold: int | None = None,
) -> BulkResult:
    """`delta` and `reason` for adjust; `low_stock_threshold` (None clears) for threshold."""
    ids = sorted(set(product_ids))

    async def run() -> BulkResult:
        entries: list[LedgerEntry] = []
        async with conn.transaction():
            await _lock(conn, ids)
            if action == "adjust":
                async with conn.cursor(row_factory=class_row(LedgerEntry)) as cur:
                    await cur.execute(
                        _Q["insert_bulk_adjustments"],
                        {"ids": ids, "delta": delta, "reason": reason, "admin_id": admin_id},
                    )
                    entries = await cur.fetchall()
            elif action == "threshold":
                await conn.execute(
                    _Q["update_bulk_threshold"],
                    {"ids": ids, "low_stock_threshold": low_stock_threshold},
                )
            else:
                await conn.execute(
                    _Q["update_bulk_active"], {"ids": ids, "active": action == "activate"}
                )
            async with conn.cursor(row_factory=class_row(Product)) as cur:
                await cur.execute(_Q["select_products_by_ids"], {"ids": ids})
                products = await cur.fetchall()
        return BulkResult(products, entries)

    result = await retry_transient(run)
    await number_committed(conn)  # stock, flag and breach events
    return result
