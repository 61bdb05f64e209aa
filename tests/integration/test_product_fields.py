"""Products carry an optional category and a unique optional barcode (SPEC 7.3)."""

from __future__ import annotations

import uuid

from tests.fixtures.db import fingerprint
from tests.fixtures.server import Shop


def _barcode() -> str:
    return "400" + uuid.uuid4().hex[:10]


def test_created_product_keeps_category_and_barcode(shop: Shop) -> None:
    code = _barcode()
    p = shop.create_product(category="Drinks", barcode=code)
    assert (p["category"], p["barcode"]) == ("Drinks", code)
    with shop.admin() as c:
        got = c.get(f"/api/products/{p['id']}").json()
        listed = [x for x in c.get("/api/products").json() if x["id"] == p["id"]]
    assert (got["category"], got["barcode"]) == ("Drinks", code)
    assert listed[0]["barcode"] == code


def test_product_without_category_or_barcode_has_nulls(shop: Shop) -> None:
    a = shop.create_product()
    b = shop.create_product()
    assert (a["category"], a["barcode"], b["barcode"]) == (None, None, None)


def test_patch_sets_and_clears_category_and_barcode_and_absent_fields_stay(shop: Shop) -> None:
    code = _barcode()
    p = shop.create_product(category="Snacks")
    with shop.admin() as c:
        set_ = c.patch(f"/api/products/{p['id']}", json={"barcode": code}).json()
        assert (set_["category"], set_["barcode"]) == ("Snacks", code)
        cleared = c.patch(f"/api/products/{p['id']}", json={"category": None}).json()
    assert (cleared["category"], cleared["barcode"]) == (None, code)


def test_a_barcode_belongs_to_one_product_only(shop: Shop) -> None:
    code = _barcode()
    first = shop.create_product(barcode=code)
    other = shop.create_product()
    before = fingerprint(shop.db_url)
    with shop.admin() as c:
        dup_create = c.post(
            "/api/products",
            json={
                "sku": f"S-{uuid.uuid4().hex[:8]}",
                "name": "x",
                "price_cents": 1,
                "barcode": code,
            },
        )
        dup_patch = c.patch(f"/api/products/{other['id']}", json={"barcode": code})
        same_again = c.patch(f"/api/products/{first['id']}", json={"barcode": code})
    assert dup_create.status_code == 409
    assert dup_create.headers["content-type"].startswith("application/problem+json")
    assert "barcode" in dup_create.json()["detail"]
    assert dup_patch.status_code == 409
    assert same_again.status_code == 200
    after = fingerprint(shop.db_url)
    assert after["inventory_ledger"] == before["inventory_ledger"]
    assert after["products"][0] == before["products"][0]


def test_bad_category_or_barcode_is_422_and_writes_nothing(shop: Shop) -> None:
    p = shop.create_product()
    before = fingerprint(shop.db_url)
    with shop.admin() as c:
        answers = [
            c.patch(f"/api/products/{p['id']}", json={"barcode": "has space"}),
            c.patch(f"/api/products/{p['id']}", json={"barcode": ""}),
            c.patch(f"/api/products/{p['id']}", json={"barcode": "9" * 65}),
            c.patch(f"/api/products/{p['id']}", json={"category": "c" * 101}),
            c.patch(f"/api/products/{p['id']}", json={"category": 5}),
            # blank after stripping: refused by the schema, never a CHECK violation (500)
            c.patch(f"/api/products/{p['id']}", json={"category": "   "}),
            c.patch(f"/api/products/{p['id']}", json={"name": " "}),
        ]
    assert [a.status_code for a in answers] == [422] * 7
    assert fingerprint(shop.db_url) == before


def test_openapi_describes_category_and_barcode(shop: Shop) -> None:
    with shop.admin() as c:
        schemas = c.get("/openapi.json").json()["components"]["schemas"]
    for model in ("ProductCreate", "ProductPatch", "ProductOut"):
        assert {"category", "barcode"} <= set(schemas[model]["properties"]), model


def test_a_patch_that_changes_nothing_leaves_updated_at_and_a_real_change_moves_it(
    shop: Shop,
) -> None:
    p = shop.create_product(category="Drinks", barcode=_barcode())
    with shop.admin() as c:
        before = c.get(f"/api/products/{p['id']}").json()
        empty = c.patch(f"/api/products/{p['id']}", json={})
        same = c.patch(
            f"/api/products/{p['id']}",
            json={
                "name": before["name"],
                "price_cents": before["price_cents"],
                "low_stock_threshold": before["low_stock_threshold"],
                "active": before["active"],
                "category": before["category"],
                "barcode": before["barcode"],
            },
        )
        changed = c.patch(f"/api/products/{p['id']}", json={"category": None})
    assert empty.status_code == same.status_code == changed.status_code == 200
    assert empty.json()["updated_at"] == same.json()["updated_at"] == before["updated_at"]
    assert changed.json()["updated_at"] > before["updated_at"]
    assert changed.json()["category"] is None
