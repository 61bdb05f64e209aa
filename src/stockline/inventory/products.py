"""Catalogue: create, read and edit products."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.rows import class_row

from stockline.db.queries import load
from stockline.errors import DuplicateBarcode, DuplicateSku, NotFound
from stockline.events.positions import number_committed
from stockline.inventory.models import Product

_Q = load("inventory")


async def list_products(
    conn: psycopg.AsyncConnection[Any], active: bool | None = None
) -> list[Product]:
    async with conn.cursor(row_factory=class_row(Product)) as cur:
        await cur.execute(_Q["select_products"], {"active": active})
        return await cur.fetchall()


SORT_KEYS = (
    "id",
    "sku",
    "name",
    "category",
    "price_cents",
    "current_stock",
    "low_stock_threshold",
    "created_at",
)


def _like(text: str) -> str:
    # the search text is matched literally: its % and _ are not wildcards
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def page_products(
    conn: psycopg.AsyncConnection[Any],
    *,
    sort: str = "id",
    limit: int | None = None,
    offset: int = 0,
    q: str | None = None,
    category: str | None = None,
    active: bool | None = None,
) -> tuple[list[Product], int]:
    """One page in `sort` order (a key of SORT_KEYS, `-` for descending) and how many
    products match in all."""
    params = {
        "sort": sort,
        "limit": limit,
        "offset": offset,
        "pattern": _like(q) if q else None,
        "category": category,
        "active": active,
    }
    async with conn.cursor(row_factory=class_row(Product)) as cur:
        await cur.execute(_Q["select_products_page"], params)
        rows = await cur.fetchall()
    if offset == 0 and (limit is None or len(rows) < limit):
        return rows, len(rows)
    cur2 = await conn.execute(_Q["select_products_count"], params)
    row = await cur2.fetchone()
    return rows, int(row["n"]) if row else 0


async def get_product(conn: psycopg.AsyncConnection[Any], product_id: int) -> Product:
    async with conn.cursor(row_factory=class_row(Product)) as cur:
        await cur.execute(_Q["select_product"], {"product_id": product_id})
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"product {product_id} does not exist")
    return row


async def create_product(
    conn: psycopg.AsyncConnection[Any],
    *,
    sku: str,
    name: str,
    price_cents: int,
    low_stock_threshold: int | None,
    initial_stock: int,
    active: bool = True,
    admin_id: int | None = None,
    category: str | None = None,
    barcode: str | None = None,
) -> Product:
    async with conn.transaction():
        try:
            cur = await conn.execute(
                _Q["insert_product"],
                {
                    "sku": sku,
                    "name": name,
                    "price_cents": price_cents,
                    "low_stock_threshold": low_stock_threshold,
                    "active": active,
                    "category": category,
                    "barcode": barcode,
                },
            )
        except pgerrors.UniqueViolation as exc:
            raise _duplicate(exc, sku=sku, barcode=barcode) from exc
        row = await cur.fetchone()
        assert row is not None
        product_id = int(row["id"])
        if initial_stock:
            # initial stock is a `system` ledger row; its trigger computes the flags
            await conn.execute(
                _Q["insert_ledger_entry"],
                {
                    "product_id": product_id,
                    "delta": initial_stock,
                    "source": "system",
                    "reason": "initial stock",
                    "admin_id": admin_id,
                    "transaction_id": None,
                },
            )
        else:
            await conn.execute(_Q["refresh_snapshot"], {"product_id": product_id})
    await number_committed(conn)  # its stock and flag events
    return await get_product(conn, product_id)


def _duplicate(
    exc: pgerrors.UniqueViolation, *, sku: str | None, barcode: str | None
) -> DuplicateSku | DuplicateBarcode:
    if exc.diag.constraint_name == "products_barcode_key":
        return DuplicateBarcode(f"another product already has barcode {barcode!r}")
    return DuplicateSku(f"a product with SKU {sku!r} already exists")


_UNSET: Any = object()


async def update_product(
    conn: psycopg.AsyncConnection[Any],
    product_id: int,
    *,
    name: str | None = None,
    price_cents: int | None = None,
    low_stock_threshold: int | None = _UNSET,
    active: bool | None = None,
    category: str | None = _UNSET,
    barcode: str | None = _UNSET,
) -> Product:
    # UNSET leaves a nullable field alone; None clears it
    set_threshold = low_stock_threshold is not _UNSET
    set_category = category is not _UNSET
    set_barcode = barcode is not _UNSET
    async with conn.transaction():
        try:
            cur = await conn.execute(
                _Q["update_product"],
                {
                    "product_id": product_id,
                    "name": name,
                    "price_cents": price_cents,
                    "set_threshold": set_threshold,
                    "low_stock_threshold": low_stock_threshold if set_threshold else None,
                    "active": active,
                    "set_category": set_category,
                    "category": category if set_category else None,
                    "set_barcode": set_barcode,
                    "barcode": barcode if set_barcode else None,
                },
            )
        except pgerrors.UniqueViolation as exc:
            raise _duplicate(exc, sku=None, barcode=barcode) from exc
        if await cur.fetchone() is None:
            raise NotFound(f"product {product_id} does not exist")
    if set_threshold:
        await number_committed(conn)  # a threshold change may breach or clear
    return await get_product(conn, product_id)


UNSET = _UNSET
