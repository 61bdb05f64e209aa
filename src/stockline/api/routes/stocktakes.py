"""/api/stocktakes: count while the shop sells, then commit or abandon (SPEC 7.3)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from stockline.api.deps import Admin, Conn
from stockline.api.schemas import (
    ID_MAX,
    CountIn,
    StocktakeIn,
    StocktakeLineOut,
    StocktakeOut,
    StocktakeSummaryOut,
)
from stockline.inventory import stocktakes

router = APIRouter(prefix="/api/stocktakes", tags=["stocktakes"])
StocktakeId = Annotated[int, Path(ge=1, le=ID_MAX)]
ProductId = Annotated[int, Path(ge=1, le=ID_MAX)]


@router.post(
    "",
    status_code=201,
    response_model=StocktakeOut,
    description="Opens a count of the listed products (or of every active product). A "
    "product already in another open stocktake → 409.",
)
async def create_stocktake(body: StocktakeIn, conn: Conn, admin: Admin) -> StocktakeOut:
    take = await stocktakes.create_stocktake(
        conn, product_ids=body.product_ids, note=body.note, admin_id=admin.id
    )
    return StocktakeOut.model_validate(take)


@router.get("", response_model=list[StocktakeSummaryOut])
async def list_stocktakes(
    conn: Conn,
    admin: Admin,
    status: Annotated[Literal["open", "committed", "abandoned"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[StocktakeSummaryOut]:
    found = await stocktakes.list_stocktakes(conn, status=status, limit=limit)
    return [StocktakeSummaryOut.model_validate(s) for s in found]


@router.get("/{stocktake_id}", response_model=StocktakeOut)
async def get_stocktake(stocktake_id: StocktakeId, conn: Conn, admin: Admin) -> StocktakeOut:
    return StocktakeOut.model_validate(await stocktakes.get_stocktake(conn, stocktake_id))


@router.put(
    "/{stocktake_id}/lines/{product_id}",
    response_model=StocktakeLineOut,
    description="Records a count and the stock at this moment; counting again replaces both.",
)
async def count_line(
    stocktake_id: StocktakeId, product_id: ProductId, body: CountIn, conn: Conn, admin: Admin
) -> StocktakeLineOut:
    line = await stocktakes.count_line(
        conn,
        stocktake_id,
        product_id,
        counted_quantity=body.counted_quantity,
        admin_id=admin.id,
    )
    return StocktakeLineOut.model_validate(line)


@router.post(
    "/{stocktake_id}/commit",
    response_model=StocktakeOut,
    description="Writes one `reconciliation` row per counted line with delta = counted - "
    "stock when counted (none when 0); uncounted lines write nothing.",
)
async def commit_stocktake(stocktake_id: StocktakeId, conn: Conn, admin: Admin) -> StocktakeOut:
    take = await stocktakes.commit_stocktake(conn, stocktake_id, admin_id=admin.id)
    return StocktakeOut.model_validate(take)


@router.delete("/{stocktake_id}", response_model=StocktakeOut, description="Abandons it.")
async def abandon_stocktake(stocktake_id: StocktakeId, conn: Conn, admin: Admin) -> StocktakeOut:
    take = await stocktakes.abandon_stocktake(conn, stocktake_id, admin_id=admin.id)
    return StocktakeOut.model_validate(take)
