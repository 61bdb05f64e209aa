"""Snoozes (SPEC §7.4): while a product is snoozed its breaches are logged as `suppressed`
and never delivered. The database decides at breach time (migration 0005), so every
instance agrees; this module only writes and lifts the snooze."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from stockline.db.queries import load
from stockline.errors import InvalidInput, NotFound

_Q = load("alerts")


def check_snooze(until: datetime | None, until_restocked: bool, now: datetime) -> None:
    """A snooze must end somehow, and not in the past."""
    if until is None and not until_restocked:
        raise InvalidInput(
            "snooze: give 'until' (a zoned date-time) or 'until_restocked': true; "
            "a snooze without an end is not allowed"
        )
    if until is not None:
        if until.tzinfo is None or until.utcoffset() is None:
            raise InvalidInput("snooze: 'until' needs a time zone, e.g. 2026-12-24T18:00:00+01:00")
        if until <= now:
            raise InvalidInput("snooze: 'until' must be in the future")


async def snooze(
    conn: psycopg.AsyncConnection[Any],
    product_id: int,
    *,
    until: datetime | None,
    until_restocked: bool,
    admin_id: int | None,
) -> None:
    check_snooze(until, until_restocked, datetime.now(UTC))
    async with conn.transaction():
        # the product row lock orders this against a breach being raised right now
        cur = await conn.execute(_Q["lock_product"], {"product_id": product_id})
        if await cur.fetchone() is None:
            raise NotFound(f"product {product_id} does not exist")
        await conn.execute(
            _Q["upsert_snooze"],
            {
                "product_id": product_id,
                "until": until,
                "until_restocked": until_restocked,
                "admin_id": admin_id,
            },
        )
        await conn.execute(_Q["update_suppress_waiting"], {"product_id": product_id})


async def lift(conn: psycopg.AsyncConnection[Any], product_id: int) -> None:
    async with conn.transaction():
        cur = await conn.execute(_Q["lock_product"], {"product_id": product_id})
        if await cur.fetchone() is None:
            raise NotFound(f"product {product_id} does not exist")
        await conn.execute(_Q["delete_snooze"], {"product_id": product_id})
