"""/api/products"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from stockline.api.deps import Admin, AnyPrincipal, Conn
from stockline.api.schemas import ID_MAX, ProductCreate, ProductOut, ProductPatch
from stockline.inventory import products
from stockline.inventory.models import Product

router = APIRouter(prefix="/api/products", tags=["products"])
ProductId = Annotated[int, Path(ge=1, le=ID_MAX)]


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


@router.get("", response_model=list[ProductOut])
async def list_products(conn: Conn, principal: AnyPrincipal) -> list[ProductOut]:
    return [product_out(p) for p in await products.list_products(conn)]


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
