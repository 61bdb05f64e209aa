"""/api/inventory: snapshots, ledger, adjustments, reconciliations, tracking, CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from stockline.alerts import snoozes
from stockline.api.deps import Admin, AnyPrincipal, Conn, ServicesDep
from stockline.api.schemas import (
    ID_MAX,
    AdjustmentIn,
    InsightOut,
    InventoryOut,
    LedgerEntryOut,
    LedgerLineOut,
    LedgerPageOut,
    Moment,
    ReconciliationIn,
    ReorderItemOut,
    SnoozeIn,
    SnoozeOut,
    StockChangeOut,
    TrackingIn,
)
from stockline.db.queries import load
from stockline.errors import InvalidInput
from stockline.inventory import insight, ledger
from stockline.inventory import ledger_csv as ledger_file
from stockline.inventory.models import LedgerEntry, Snapshot, StockChange

router = APIRouter(prefix="/api/inventory", tags=["inventory"])
ProductId = Annotated[int, Path(ge=1, le=ID_MAX)]
_Q = load("inventory")


def inventory_out(s: Snapshot, global_tracking: bool) -> InventoryOut:
    return InventoryOut(
        product_id=s.product_id,
        sku=s.sku,
        name=s.name,
        low_stock_threshold=s.low_stock_threshold,
        current_stock=s.current_stock,
        low_stock_flag=s.low_stock_flag,
        negative_flag=s.negative_flag,
        tracking_enabled=s.tracking_enabled,
        tracking_effective=s.tracking_enabled and global_tracking,
        last_activity_at=s.last_activity_at,
        snooze=SnoozeOut.model_validate(s.snooze) if s.snooze else None,
    )


def _entry_out(e: LedgerEntry | None) -> LedgerEntryOut | None:
    return None if e is None else LedgerEntryOut.model_validate(e)


async def _global_tracking(conn: Conn) -> bool:
    cur = await conn.execute(_Q["select_global_tracking"])
    row = await cur.fetchone()
    return bool(row and row["on"])


def _change_out(change: StockChange, global_tracking: bool) -> StockChangeOut:
    return StockChangeOut(
        entry=_entry_out(change.entry), snapshot=inventory_out(change.snapshot, global_tracking)
    )


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _zoned(*times: datetime | None) -> list[datetime | None]:
    """Naive times are UTC; a naive one next to a zoned one is ambiguous, so refused."""
    given = [t for t in times if t is not None]
    if len({t.tzinfo is None for t in given}) > 1:
        raise InvalidInput("'from' and 'to' must both have a time zone, or both have none")
    return [t if t is None or t.tzinfo else t.replace(tzinfo=UTC) for t in times]


@router.get("", response_model=list[InventoryOut])
async def list_inventory(
    conn: Conn,
    principal: AnyPrincipal,
    flag: Annotated[Literal["low", "negative"] | None, Query()] = None,
) -> list[InventoryOut]:
    snaps = await ledger.list_snapshots(conn, low=flag == "low", negative=flag == "negative")
    tracking = await _global_tracking(conn)
    return [inventory_out(s, tracking) for s in snaps]


@router.get(
    "/ledger.csv",
    response_class=StreamingResponse,
    responses={200: {"description": "the ledger as CSV", "content": {"text/csv": {}}}},
    description="The ledger, oldest first, streamed as CSV; `product_id`, `from` (inclusive) "
    "and `to` (exclusive) filter it. A date without a time is that day's start for `from` "
    "and the end of that day for `to` (`from=2026-12-01&to=2026-12-01` is that whole day). "
    "'from' must not be after 'to' (422).",
)
async def ledger_csv(
    request: Request,
    services: ServicesDep,
    admin: Admin,
    product_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    from_: Annotated[Moment | None, Query(alias="from")] = None,
    to: Annotated[Moment | None, Query()] = None,
) -> StreamingResponse:
    if to is not None and _DATE_ONLY.fullmatch(request.query_params.get("to", "")):
        # through the end of the day named; after 9999-12-31 nothing is left out
        to = to + timedelta(days=1) if to < datetime.max - timedelta(days=1) else None
    from_, to = _zoned(from_, to)
    if from_ and to and from_ > to:
        raise InvalidInput("'from' must not be after 'to'")
    params = {"product_id": product_id, "from": from_, "to": to}

    async def rows() -> AsyncIterator[str]:
        # its own connection, held only while the export streams
        # a server-side cursor lives in a transaction (pool connections are autocommit)
        async with services.pool.connection() as conn, conn.transaction():
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(ledger_file.COLUMNS)
            async with conn.cursor(name="ledger_export") as cur:
                await cur.execute(_Q["select_ledger_export"], params)
                while batch := await cur.fetchmany(2000):
                    writer.writerows(ledger_file.cells(r) for r in batch)
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="ledger.csv"'},
    )


Days = Annotated[int, Query(ge=1, le=365, description="the window, in UTC days up to today")]


# before /{product_id}: "reorder" is not a product id
@router.get(
    "/reorder",
    response_model=list[ReorderItemOut],
    description="Active products whose suggested_reorder_quantity is above 0, the soonest "
    "to run out first (days_of_cover ascending; nothing sold last), then by SKU.",
)
async def get_reorder_list(
    conn: Conn, principal: AnyPrincipal, services: ServicesDep, days: Days = insight.DEFAULT_DAYS
) -> list[ReorderItemOut]:
    items = await insight.reorder_list(
        conn, days=days, lead_days=services.settings.reorder_lead_days
    )
    return [ReorderItemOut.model_validate(i) for i in items]


@router.get("/{product_id}", response_model=InventoryOut)
async def get_inventory(product_id: ProductId, conn: Conn, principal: AnyPrincipal) -> InventoryOut:
    return inventory_out(await ledger.get_snapshot(conn, product_id), await _global_tracking(conn))


@router.get(
    "/{product_id}/insight",
    response_model=InsightOut,
    description="Units sold per day over the last `days` UTC days, days of cover, the "
    "suggested reorder quantity (docs/manager.md gives the rule) and one point per day.",
)
async def get_insight(
    product_id: ProductId,
    conn: Conn,
    principal: AnyPrincipal,
    services: ServicesDep,
    days: Days = insight.DEFAULT_DAYS,
) -> InsightOut:
    found = await insight.product_insight(
        conn, product_id, days=days, lead_days=services.settings.reorder_lead_days
    )
    return InsightOut.model_validate(found)


@router.get("/{product_id}/ledger", response_model=LedgerPageOut)
async def get_ledger(
    product_id: ProductId,
    conn: Conn,
    principal: AnyPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> LedgerPageOut:
    entries = await ledger.ledger_page(conn, product_id, limit=limit, before_id=before_id)
    next_before = entries[-1].id if len(entries) == limit else None
    return LedgerPageOut(
        items=[LedgerLineOut.model_validate(e) for e in entries], next_before_id=next_before
    )


@router.post("/{product_id}/adjustments", status_code=201, response_model=StockChangeOut)
async def post_adjustment(
    product_id: ProductId, body: AdjustmentIn, conn: Conn, admin: Admin
) -> StockChangeOut:
    change = await ledger.adjust(
        conn, product_id, delta=body.delta, reason=body.reason, admin_id=admin.id
    )
    return _change_out(change, await _global_tracking(conn))


@router.post("/{product_id}/reconciliations", status_code=201, response_model=StockChangeOut)
async def post_reconciliation(
    product_id: ProductId, body: ReconciliationIn, conn: Conn, admin: Admin
) -> StockChangeOut:
    change = await ledger.reconcile(
        conn,
        product_id,
        counted_quantity=body.counted_quantity,
        reason=body.reason,
        admin_id=admin.id,
    )
    return _change_out(change, await _global_tracking(conn))


@router.put("/{product_id}/tracking", response_model=InventoryOut)
async def put_tracking(
    product_id: ProductId, body: TrackingIn, conn: Conn, admin: Admin
) -> InventoryOut:
    snap = await ledger.set_product_tracking(conn, product_id, enabled=body.enabled)
    return inventory_out(snap, await _global_tracking(conn))


@router.post("/{product_id}/snooze", response_model=InventoryOut)
async def post_snooze(
    product_id: ProductId, body: SnoozeIn, conn: Conn, admin: Admin
) -> InventoryOut:
    """Breaches of this product are logged as `suppressed` until `until` passes or, with
    `until_restocked`, until stock rises above the threshold (whichever comes first)."""
    await snoozes.snooze(
        conn,
        product_id,
        until=body.until,
        until_restocked=body.until_restocked,
        admin_id=admin.id,
    )
    return inventory_out(await ledger.get_snapshot(conn, product_id), await _global_tracking(conn))


@router.delete("/{product_id}/snooze", response_model=InventoryOut)
async def delete_snooze(product_id: ProductId, conn: Conn, admin: Admin) -> InventoryOut:
    """Lifts the snooze (if any): the next breach is delivered again."""
    await snoozes.lift(conn, product_id)
    return inventory_out(await ledger.get_snapshot(conn, product_id), await _global_tracking(conn))
