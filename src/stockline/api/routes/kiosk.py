"""/api/kiosk/rejected-sales and /api/admin/rejected-sales: offline sales the server
refused on replay, reported by the kiosk and settled by staff (SPEC §7.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from stockline.api.deps import Admin, AnyPrincipal, Conn
from stockline.api.schemas import ID_MAX, PRICE_MAX, QTY_MAX, WHOLE, Id, Text, Text200
from stockline.errors import Forbidden
from stockline.inventory import rejected_sales

router = APIRouter(tags=["kiosk"])
SaleId = Annotated[int, Path(ge=1, le=ID_MAX)]


Key = Annotated[Text, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
Detail = Annotated[
    Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=r"\S")
]


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class RejectedLineIn(_In):
    product_id: Id
    quantity: Annotated[int, Field(ge=1, le=QTY_MAX), WHOLE]
    name: Text200
    unit_price_cents: Annotated[int, Field(ge=0, le=PRICE_MAX), WHOLE]


class RejectedSaleIn(_In):
    idempotency_key: Key
    items: Annotated[list[RejectedLineIn], Field(min_length=1, max_length=100)]
    total_cents: Annotated[int, Field(ge=0, le=PRICE_MAX * 100), WHOLE]
    sold_at: Annotated[AwareDatetime, Field(strict=False)]
    refused_status: Annotated[int, Field(ge=400, le=499), WHOLE]
    refused_detail: Detail


class RejectedSaleOut(BaseModel):
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


def _out(row: rejected_sales.RejectedSale) -> RejectedSaleOut:
    return RejectedSaleOut(**vars(row))


@router.post(
    "/api/kiosk/rejected-sales",
    status_code=201,
    response_model=RejectedSaleOut,
    responses={200: {"description": "This sale was reported before; the stored report"}},
)
async def report_rejected_sale(
    body: RejectedSaleIn, conn: Conn, principal: AnyPrincipal
) -> JSONResponse:
    if principal.kind != "kiosk":
        raise Forbidden("only a kiosk reports its refused sales")
    row, created = await rejected_sales.report(
        conn,
        rejected_sales.Report(
            kiosk_id=principal.id,
            idempotency_key=body.idempotency_key,
            items=[line.model_dump() for line in body.items],
            total_cents=body.total_cents,
            sold_at=body.sold_at,
            refused_status=body.refused_status,
            refused_detail=body.refused_detail,
        ),
    )
    return JSONResponse(_out(row).model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/api/admin/rejected-sales", response_model=list[RejectedSaleOut])
async def list_rejected_sales(
    conn: Conn,
    admin: Admin,
    include_resolved: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RejectedSaleOut]:
    rows = await rejected_sales.list_rejected(conn, include_resolved=include_resolved, limit=limit)
    return [_out(r) for r in rows]


@router.post("/api/admin/rejected-sales/{sale_id}/resolve", response_model=RejectedSaleOut)
async def resolve_rejected_sale(sale_id: SaleId, conn: Conn, admin: Admin) -> RejectedSaleOut:
    return _out(await rejected_sales.resolve(conn, sale_id, admin_id=admin.id))
