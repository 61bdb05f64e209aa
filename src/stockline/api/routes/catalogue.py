"""/api/products.csv and /api/products/import: the catalogue as a file (SPEC 7.3)."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from stockline.api.deps import Admin, Conn
from stockline.api.openapi import problem_response
from stockline.api.schemas import ImportOut
from stockline.errors import UnsupportedMediaType
from stockline.inventory import catalogue, products
from stockline.inventory.catalogue_csv import COLUMNS, export_cells

router = APIRouter(prefix="/api", tags=["products"])
_ACCEPTED = {"text/csv", "application/csv"}


@router.get(
    "/products.csv",
    response_class=Response,
    responses={200: {"description": "the catalogue as CSV", "content": {"text/csv": {}}}},
    description="Every product, in the columns the import reads; cells that would start a "
    "spreadsheet formula get a leading `'` (the import removes it).",
)
async def export_catalogue(conn: Conn, admin: Admin) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for product in await products.list_products(conn):
        writer.writerow(export_cells(product))
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="products.csv"'},
    )


@router.post(
    "/products/import",
    response_model=ImportOut,
    responses={415: problem_response(415, "Unsupported Media Type: send text/csv")},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": f"UTF-8 CSV (a BOM is fine), header naming columns from "
            f"{', '.join(COLUMNS)}; sku, name and price_cents are required",
        }
    },
    description="Creates or updates products by SKU in one transaction. Any error answers "
    "422 with every bad line as errors [{line, field, message}] and writes nothing. "
    "initial_stock applies to new products only (a `system` ledger row). `dry_run=true` "
    "checks and counts without writing.",
)
async def import_catalogue(
    request: Request,
    conn: Conn,
    admin: Admin,
    dry_run: Annotated[bool, Query()] = False,
) -> ImportOut:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _ACCEPTED:
        raise UnsupportedMediaType("send the catalogue as text/csv")
    result = await catalogue.import_catalogue(
        conn, await request.body(), dry_run=dry_run, admin_id=admin.id
    )
    return ImportOut.model_validate(result)
