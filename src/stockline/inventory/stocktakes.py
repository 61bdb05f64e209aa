"""Stocktakes while the shop sells (SPEC 7.3).

A line stores the count and, in the same statement, the stock at that moment. Commit
writes one `reconciliation` row per counted line with delta = counted - stock_at_count,
so the purchases made after a line was counted are kept. A product is in at most one
open stocktake (the partial unique index of migration 0009; docs/manager.md says why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.rows import class_row, dict_row

from stockline.db.queries import load
from stockline.errors import Conflict, NotFound
from stockline.events.positions import number_committed
from stockline.inventory.ledger import retry_transient
from stockline.inventory.models import LedgerEntry

_Q = load("stocktakes")


@dataclass(frozen=True)
class StocktakeLine:
    product_id: int
    sku: str
    name: str
    barcode: str | None
    current_stock: int
    counted_quantity: int | None
    stock_at_count: int | None
    counted_by: str | None
    counted_at: datetime | None
    delta: int | None  # what commit writes (or wrote): counted - stock_at_count
    ledger_id: int | None


@dataclass(frozen=True)
class Stocktake:
    id: int
    note: str
    status: str
    created_at: datetime
    created_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    lines: list[StocktakeLine] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)


@dataclass(frozen=True)
class StocktakeSummary:
    id: int
    note: str
    status: str
    created_at: datetime
    created_by: str | None
    closed_at: datetime | None
    line_count: int
    counted_count: int


class StocktakeClosed(Conflict):
    """This stocktake is no longer open."""


async def _open_conflicts(cur: psycopg.AsyncCursor[dict[str, Any]], ids: list[int] | None) -> None:
    await cur.execute(_Q["select_open_counts"], {"ids": ids})
    busy = await cur.fetchall()
    if busy:
        shown = ", ".join(f"{r['product_id']} (stocktake {r['stocktake_id']})" for r in busy[:20])
        more = f" and {len(busy) - 20} more" if len(busy) > 20 else ""
        raise Conflict(f"products already in an open stocktake: {shown}{more}")


async def create_stocktake(
    conn: psycopg.AsyncConnection[Any], *, product_ids: list[int] | None, note: str, admin_id: int
) -> Stocktake:
    ids = sorted(set(product_ids)) if product_ids is not None else None
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if ids is not None:
            await cur.execute(_Q["select_unknown_products"], {"ids": ids})
            unknown = [r["id"] for r in await cur.fetchall()]
            if unknown:
                raise NotFound(f"no such product(s): {', '.join(map(str, unknown[:20]))}")
        await _open_conflicts(cur, ids)
        await cur.execute(_Q["insert_stocktake"], {"note": note, "admin_id": admin_id})
        row = await cur.fetchone()
        assert row is not None
        stocktake_id = int(row["id"])
        try:
            await cur.execute(
                _Q["insert_stocktake_lines"], {"stocktake_id": stocktake_id, "ids": ids}
            )
        except pgerrors.UniqueViolation:
            # another stocktake took one of these products since the check above
            raise Conflict("products already in an open stocktake (created just now)") from None
    return await get_stocktake(conn, stocktake_id)


async def _lines(
    conn: psycopg.AsyncConnection[Any], stocktake_id: int, product_id: int | None = None
) -> list[StocktakeLine]:
    async with conn.cursor(row_factory=class_row(StocktakeLine)) as cur:
        await cur.execute(
            _Q["select_stocktake_lines"],
            {"stocktake_id": stocktake_id, "product_id": product_id},
        )
        return await cur.fetchall()


async def get_stocktake(
    conn: psycopg.AsyncConnection[Any],
    stocktake_id: int,
    entries: list[LedgerEntry] | None = None,
) -> Stocktake:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_Q["select_stocktake"], {"stocktake_id": stocktake_id})
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"stocktake {stocktake_id} does not exist")
    return Stocktake(**row, lines=await _lines(conn, stocktake_id), entries=entries or [])


async def list_stocktakes(
    conn: psycopg.AsyncConnection[Any], *, status: str | None, limit: int
) -> list[StocktakeSummary]:
    async with conn.cursor(row_factory=class_row(StocktakeSummary)) as cur:
        await cur.execute(_Q["select_stocktakes"], {"status": status, "limit": limit})
        return await cur.fetchall()


async def _require_open(
    conn: psycopg.AsyncConnection[Any], stocktake_id: int, *, exclusive: bool
) -> None:
    lock = _Q["lock_stocktake"] if exclusive else _Q["share_stocktake"]
    cur = await conn.execute(lock, {"stocktake_id": stocktake_id})
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"stocktake {stocktake_id} does not exist")
    if row["status"] != "open":
        raise StocktakeClosed(f"stocktake {stocktake_id} is {row['status']}")


async def count_line(
    conn: psycopg.AsyncConnection[Any],
    stocktake_id: int,
    product_id: int,
    *,
    counted_quantity: int,
    admin_id: int,
) -> StocktakeLine:
    """Counting a line again replaces the count and its stock_at_count."""
    async with conn.transaction():
        await _require_open(conn, stocktake_id, exclusive=False)
        cur = await conn.execute(
            _Q["update_stocktake_line"],
            {
                "stocktake_id": stocktake_id,
                "product_id": product_id,
                "counted_quantity": counted_quantity,
                "admin_id": admin_id,
            },
        )
        if await cur.fetchone() is None:
            raise NotFound(f"product {product_id} is not in stocktake {stocktake_id}")
    (line,) = await _lines(conn, stocktake_id, product_id)
    return line


def _reason(stocktake_id: int, note: str) -> str:
    return f"stocktake {stocktake_id}: {note}"[:500] if note else f"stocktake {stocktake_id}"


async def commit_stocktake(
    conn: psycopg.AsyncConnection[Any], stocktake_id: int, *, admin_id: int
) -> Stocktake:
    async def run() -> list[LedgerEntry]:
        async with conn.transaction():
            # exclusive: no count slips in between the rows written and the close
            await _require_open(conn, stocktake_id, exclusive=True)
            head = await get_stocktake(conn, stocktake_id)
            await conn.execute(_Q["lock_counted_products"], {"stocktake_id": stocktake_id})
            async with conn.cursor(row_factory=class_row(LedgerEntry)) as cur:
                await cur.execute(
                    _Q["insert_stocktake_reconciliations"],
                    {
                        "stocktake_id": stocktake_id,
                        "reason": _reason(stocktake_id, head.note),
                        "admin_id": admin_id,
                    },
                )
                entries = await cur.fetchall()
            await _close(conn, stocktake_id, "committed", admin_id)
            return entries

    entries = await retry_transient(run)
    await number_committed(conn)  # the reconciliations' events
    return await get_stocktake(conn, stocktake_id, entries)


async def _close(
    conn: psycopg.AsyncConnection[Any], stocktake_id: int, status: str, admin_id: int
) -> None:
    params = {"stocktake_id": stocktake_id, "status": status, "admin_id": admin_id}
    await conn.execute(_Q["close_stocktake"], params)
    await conn.execute(_Q["close_stocktake_lines"], params)


async def abandon_stocktake(
    conn: psycopg.AsyncConnection[Any], stocktake_id: int, *, admin_id: int
) -> Stocktake:
    async with conn.transaction():
        await _require_open(conn, stocktake_id, exclusive=True)
        await _close(conn, stocktake_id, "abandoned", admin_id)
    return await get_stocktake(conn, stocktake_id)
