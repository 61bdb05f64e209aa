"""/api/products"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from stockline.api.deps import Admin, AnyPrincipal, Conn
from stockline.api.schemas import (
    ID_MAX,
    BulkAdjustIn,
    BulkIn,
    BulkOut,
    BulkThresholdIn,
    Category,
    ProductCreate,
    ProductOut,
    ProductPatch,
    ProductSort,
    SearchText,
)
from stockline.inventory import bulk, products
from stockline.inventory.models import Product

router = APIRouter(prefix="/api/products", tags=["products"])
ProductId = Annotated[int, Path(ge=1, le=ID_MAX)]
_TOTAL = {"description": "how many products match the filters", "schema": {"type": "integer"}}


def product_out(p: Product) -> ProductOut:
    return ProductOut.model_validate(p)


@router.post("", status_code=201, response_model=ProductOut)
async def create_product(body: ProductCreate, conn: Conn, admin: Admin) -> ProductOut:
    product = await products.create_product(
        conn,
        sku=body.sku,
        name=body.name,
        price_cents=body.price_cents,
        low_stock_threshold=body.low_stock_threshold,
        initial_stock=body.initial_stock,
        active=body.active,
        admin_id=admin.id,
        category=body.category,
        barcode=body.barcode,
    )
    return product_out(product)


@router.get(
    "",
    response_model=list[ProductOut],
    responses={200: {"headers": {"X-Total-Count": _TOTAL}}},
    description="Products with their snapshot, sorted by `sort` (SKUs naturally: BULK-2 "
    "before BULK-10; `-` for descending; the id breaks ties), filtered by `q` (part of the "
    "SKU, name or barcode), `category` and `active`, paged by `limit`/`offset`. "
    "X-Total-Count says how many match.",
)
async def list_products(
    response: Response,
    conn: Conn,
    principal: AnyPrincipal,
    sort: Annotated[ProductSort, Query()] = "id",
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    q: Annotated[SearchText | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
) -> list[ProductOut]:
    found, total = await products.page_products(
        conn,
        sort=sort,
        limit=limit,
        offset=offset,
        q=q,
        category=category,
        active=active,
    )
    response.headers["X-Total-Count"] = str(total)
    return [product_out(p) for p in found]


@router.post(
    "/bulk",
    response_model=BulkOut,
    description="One action on up to 1,000 products in one transaction: `adjust` (one "
    "manual_adjustment ledger row per product), `threshold` (null clears), `deactivate`, "
    "`activate`. An unknown id → 404 and nothing changes.",
)
async def bulk_action(body: Annotated[BulkIn, Body()], conn: Conn, admin: Admin) -> BulkOut:
    if isinstance(body, BulkAdjustIn):
        result = await bulk.apply_bulk(
            conn,
            body.product_ids,
            "adjust",
            admin_id=admin.id,
            delta=body.delta,
            reason=body.reason,
        )
    elif isinstance(body, BulkThresholdIn):
        result = await bulk.apply_bulk(
            conn,
            body.product_ids,
            "threshold",
            admin_id=admin.id,
            low_stock_threshold=body.low_stock_threshold,
        )
    else:
        result = await bulk.apply_bulk(conn, body.product_ids, body.action, admin_id=admin.id)
    return BulkOut.model_validate(result)


@router.get("/{product_id}", response_model=ProductOut)
async def get_product(product_id: ProductId, conn: Conn, principal: AnyPrincipal) -> ProductOut:
    return product_out(await products.get_product(conn, product_id))


@router.patch("/{product_id}", response_model=ProductOut)
async def patch_product(
    product_id: ProductId, body: ProductPatch, conn: Conn, admin: Admin
) -> ProductOut:
    sent = body.model_fields_set
    product = await products.update_product(
        conn,
        product_id,
        name=body.name,
        price_cents=body.price_cents,
        # an explicit null clears the threshold; an absent field leaves it alone
        low_stock_threshold=body.low_stock_threshold
        if "low_stock_threshold" in sent
        else products.UNSET,
        active=body.active,
        category=body.category if "category" in sent else products.UNSET,
        barcode=body.barcode if "barcode" in sent else products.UNSET,
    )
    return product_out(product)
