"""Sales a kiosk queued offline and the server refused on replay (SPEC §7.5).

The customer paid and left before the refusal was known, so the kiosk reports the sale
here instead of dropping it, and staff settle it in the portal. A kiosk repeats a report
until it sees an answer; (kiosk, Idempotency-Key) is unique, so each sale is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from stockline.db.queries import load
from stockline.errors import NotFound

_Q = load("kiosk")


@dataclass(frozen=True)
class RejectedSale:
    id: int
    kiosk_id: int
    kiosk_name: str
    idempotency_key: str
    items: list[dict[str, Any]]
    total_cents: int
    sold_at: datetime
    refused_status: int
    refused_detail: str
    reported_at: datetime
    resolved_at: datetime | None
    resolved_by: int | None


@dataclass(frozen=True)
class Report:
    kiosk_id: int
    idempotency_key: str
    items: list[dict[str, Any]]
    total_cents: int
    sold_at: datetime
    refused_status: int
    refused_detail: str


async def report(conn: psycopg.AsyncConnection[Any], sale: Report) -> tuple[RejectedSale, bool]:
    """Store the refused sale; the bool says whether this report was the first."""
    params = {
        "kiosk_id": sale.kiosk_id,
        "idempotency_key": sale.idempotency_key,
        "items": Jsonb(sale.items),
        "total_cents": sale.total_cents,
        "sold_at": sale.sold_at,
        "refused_status": sale.refused_status,
        "refused_detail": sale.refused_detail,
    }
    async with conn.transaction():
        cur = await conn.execute(_Q["insert_rejected_sale"], params)
        created = await cur.fetchone() is not None
        async with conn.cursor(row_factory=class_row(RejectedSale)) as rows:
            await rows.execute(_Q["select_rejected_sale_by_key"], params)
            stored = await rows.fetchone()
    assert stored is not None  # inserted or already there, in this transaction
    return stored, created


async def list_rejected(
    conn: psycopg.AsyncConnection[Any], *, include_resolved: bool, limit: int
) -> list[RejectedSale]:
    async with conn.cursor(row_factory=class_row(RejectedSale)) as cur:
        await cur.execute(
            _Q["select_rejected_sales"], {"include_resolved": include_resolved, "limit": limit}
        )
        return await cur.fetchall()


async def resolve(
    conn: psycopg.AsyncConnection[Any], sale_id: int, *, admin_id: int
) -> RejectedSale:
    async with conn.transaction(), conn.cursor(row_factory=class_row(RejectedSale)) as cur:
        await cur.execute(
            _Q["update_rejected_sale_resolved"], {"id": sale_id, "admin_id": admin_id}
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"rejected sale {sale_id} does not exist")
    return row
