"""Catalogue: create, read and edit products."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.rows import class_row

from stockline.db.queries import load
from stockline.errors import DuplicateSku, NotFound
from stockline.inventory.models import Product

_Q = load("inventory")


async def list_products(
    conn: psycopg.AsyncConnection[Any], active: bool | None = None
) -> list[Product]:
    async with conn.cursor(row_factory=class_row(Product)) as cur:
        await cur.execute(_Q["select_products"], {"active": active})
        return await cur.fetchall()


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
                },
            )
        except pgerrors.UniqueViolation as exc:
            raise DuplicateSku(f"a product with SKU {sku!r} already exists") from exc
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
    return await get_product(conn, product_id)


_UNSET: Any = object()


async def update_product(
    conn: psycopg.AsyncConnection[Any],
    product_id: int,
    *,
    name: str | None = None,
    price_cents: int | None = None,
    low_stock_threshold: int | None = _UNSET,
    active: bool | None = None,
) -> Product:
    set_threshold = low_stock_threshold is not _UNSET
    async with conn.transaction():
        cur = await conn.execute(
            _Q["update_product"],
            {
                "product_id": product_id,
                "name": name,
                "price_cents": price_cents,
                "set_threshold": set_threshold,
                "low_stock_threshold": low_stock_threshold if set_threshold else None,
                "active": active,
            },
        )
        if await cur.fetchone() is None:
            raise NotFound(f"product {product_id} does not exist")
    return await get_product(conn, product_id)


UNSET = _UNSET
