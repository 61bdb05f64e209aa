"""Stock changes: purchases, adjustments, reconciliations, tracking (S-1…S-5).

Every function runs one transaction on the caller's connection. The ledger
insert's trigger keeps the snapshot, products.stock_quantity, the flags, the
events and the breach notifications in step inside that same transaction. After
it commits, the function numbers the events it wrote (events/positions.py), so
they are in the stream when the caller answers; a purchase leaves that to its
process's next numbering round.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg.rows import class_row

from stockline.db.queries import load
from stockline.errors import IdempotencyConflict, InvalidInput, NotFound
from stockline.events.positions import number_committed
from stockline.inventory.models import LedgerEntry, LedgerLine, PurchaseLine, Snapshot, StockChange

_Q = load("inventory")
T = TypeVar("T")

# PostgreSQL may still pick a victim (e.g. a lock taken by a trigger in a rare
# order); the client must never see it (S-1), so the whole transaction reruns.
_RETRYABLE = (pgerrors.DeadlockDetected, pgerrors.SerializationFailure)


async def retry_transient(fn: Callable[[], Awaitable[T]], attempts: int = 8) -> T:
    for attempt in range(attempts):
        try:
            return await fn()
        except _RETRYABLE:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")


async def get_snapshot(conn: psycopg.AsyncConnection[Any], product_id: int) -> Snapshot:
    async with conn.cursor(row_factory=class_row(Snapshot)) as cur:
        await cur.execute(_Q["select_snapshot"], {"product_id": product_id})
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"product {product_id} does not exist")
    return row


async def list_snapshots(
    conn: psycopg.AsyncConnection[Any], *, low: bool = False, negative: bool = False
) -> list[Snapshot]:
    async with conn.cursor(row_factory=class_row(Snapshot)) as cur:
        await cur.execute(_Q["select_snapshots"], {"low": low, "negative": negative})
        return await cur.fetchall()


async def ledger_page(
    conn: psycopg.AsyncConnection[Any], product_id: int, *, limit: int, before_id: int | None
) -> list[LedgerLine]:
    await get_snapshot(conn, product_id)
    async with conn.cursor(row_factory=class_row(LedgerLine)) as cur:
        await cur.execute(
            _Q["select_ledger_page"],
            {"product_id": product_id, "limit": limit, "before_id": before_id},
        )
        return await cur.fetchall()


async def _lock_product(conn: psycopg.AsyncConnection[Any], product_id: int) -> None:
    cur = await conn.execute(_Q["lock_product"], {"product_id": product_id})
    if await cur.fetchone() is None:
        raise NotFound(f"product {product_id} does not exist")


async def _insert_entry(conn: psycopg.AsyncConnection[Any], **values: Any) -> LedgerEntry:
    async with conn.cursor(row_factory=class_row(LedgerEntry)) as cur:
        await cur.execute(_Q["insert_ledger_entry"], {"transaction_id": None, **values})
        row = await cur.fetchone()
    assert row is not None
    return row


async def adjust(
    conn: psycopg.AsyncConnection[Any], product_id: int, *, delta: int, reason: str, admin_id: int
) -> StockChange:
    async def run() -> StockChange:
        async with conn.transaction():
            await _lock_product(conn, product_id)
            entry = await _insert_entry(
                conn,
                product_id=product_id,
                delta=delta,
                source="manual_adjustment",
                reason=reason,
                admin_id=admin_id,
            )
            return StockChange(entry, await get_snapshot(conn, product_id))

    change = await retry_transient(run)
    await number_committed(conn)
    return change


async def reconcile(
    conn: psycopg.AsyncConnection[Any],
    product_id: int,
    *,
    counted_quantity: int,
    reason: str,
    admin_id: int,
) -> StockChange:
    async def run() -> StockChange:
        async with conn.transaction():
            await _lock_product(conn, product_id)
            current = (await get_snapshot(conn, product_id)).current_stock
            delta = counted_quantity - current  # S-5; bigint since 0008, any real count fits
            entry = None
            if delta:
                entry = await _insert_entry(
                    conn,
                    product_id=product_id,
                    delta=delta,
                    source="reconciliation",
                    reason=reason,
                    admin_id=admin_id,
                )
            return StockChange(entry, await get_snapshot(conn, product_id))

    change = await retry_transient(run)
    if change.entry is not None:
        await number_committed(conn)
    return change


async def set_product_tracking(
    conn: psycopg.AsyncConnection[Any], product_id: int, *, enabled: bool
) -> Snapshot:
    async with conn.transaction():
        await _lock_product(conn, product_id)
        before = await get_snapshot(conn, product_id)
        changed = before.tracking_enabled != enabled
        if changed:
            await conn.execute(
                _Q["update_product_tracking"], {"product_id": product_id, "enabled": enabled}
            )
            await conn.execute(
                _Q["insert_event"],
                {
                    "type": "tracking-toggled",
                    "payload": json.dumps(
                        {"scope": "product", "product_id": product_id, "enabled": enabled}
                    ),
                },
            )
        snapshot = await get_snapshot(conn, product_id)
    if changed:
        await number_committed(conn)
    return snapshot


async def purchase(
    conn: psycopg.AsyncConnection[Any],
    *,
    kiosk_id: int | None,
    lines: list[PurchaseLine],
    idempotency_scope: str,
    idempotency_key: str | None,
    request_hash: bytes,
) -> tuple[dict[str, Any], bool]:
    """Record and commit a purchase; returns (answer, replayed). Never refused for lack of
    stock (S-2). Unlike the other commands it does not number its events: the caller
    rings its process's positioner (`Positioner.ring`), so that one numbering round
    serves every purchase that committed meanwhile. A replay wrote none.

    One statement, so one round trip: the database function claims the key, locks the
    products in id order and writes the transaction, its lines and ledger rows. The
    connection must be in autocommit mode: the statement's end is its COMMIT.
    """
    params = _purchase_params(lines, idempotency_key, request_hash)
    params.update(scope=idempotency_scope, kiosk_id=kiosk_id)
    found = await _purchase(lambda: conn.execute(_Q["insert_purchase"], params))
    assert found is not None
    return found


async def purchase_as_kiosk(
    conn: psycopg.AsyncConnection[Any],
    *,
    token_hash: bytes,
    lines: list[PurchaseLine],
    idempotency_key: str | None,
    request_hash: bytes,
) -> tuple[dict[str, Any], bool] | None:
    """`purchase` for the enabled kiosk whose token hashes to token_hash, found in the
    same statement (one round trip less on the kiosk's hot path); None when there is no
    such kiosk, and then nothing was written."""
    params = _purchase_params(lines, idempotency_key, request_hash)
    params.update(token_hash=token_hash)
    return await _purchase(lambda: conn.execute(_Q["insert_purchase_by_kiosk_token"], params))


def _purchase_params(
    lines: list[PurchaseLine], idempotency_key: str | None, request_hash: bytes
) -> dict[str, Any]:
    return {
        "key": idempotency_key,
        "hash": request_hash,
        "product_ids": [line.product_id for line in lines],
        "quantities": [line.quantity for line in lines],
    }


async def _purchase(
    statement: Callable[[], Awaitable[psycopg.AsyncCursor[Any]]],
) -> tuple[dict[str, Any], bool] | None:
    async def run() -> dict[str, Any] | None:
        try:
            cur = await statement()
        except psycopg.Error as exc:
            if exc.sqlstate == "SL404":
                raise NotFound(_message(exc)) from None
            if exc.sqlstate == "SL422":
                raise InvalidInput(_message(exc)) from None
            raise
        row = await cur.fetchone()
        return None if row is None else dict(row["result"])

    result = await retry_transient(run)
    if result is None:
        return None
    if result["outcome"] == "conflict":
        raise IdempotencyConflict()
    return result["answer"], result["outcome"] == "replay"


def _message(exc: psycopg.Error) -> str:
    return exc.diag.message_primary or "invalid purchase"


async def prune_idempotency_keys(conn: psycopg.AsyncConnection[Any], hours: int) -> int:
    cur = await conn.execute(_Q["delete_expired_idempotency_keys"], {"hours": hours})
    return cur.rowcount
