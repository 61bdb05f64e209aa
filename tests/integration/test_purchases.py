"""Purchases through real HTTP: S-1, S-2, idempotency."""

from __future__ import annotations

import psycopg

from tests.fixtures.server import Shop


def _ledger(db_url: str, product_id: int) -> list[tuple[int, str]]:
    with psycopg.connect(db_url) as conn:
        return [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT delta, source FROM inventory_ledger WHERE product_id = %s ORDER BY id",
                (product_id,),
            )
        ]


def test_purchase_writes_one_ledger_row_per_line_and_moves_stock(shop: Shop) -> None:
    a = shop.create_product(stock=10, price=250)
    b = shop.create_product(stock=5, price=100)
    with shop.kiosk() as c:
        resp = c.post(
            "/api/purchases",
            json={
                "items": [
                    {"product_id": a["id"], "quantity": 2},
                    {"product_id": b["id"], "quantity": 1},
                ]
            },
        )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["total_cents"] == 2 * 250 + 100
    assert [i["product_id"] for i in body["items"]] == [a["id"], b["id"]]
    assert _ledger(shop.db_url, a["id"]) == [(10, "system"), (-2, "purchase")]
    with shop.kiosk() as c:
        assert c.get(f"/api/inventory/{a['id']}").json()["current_stock"] == 8


def test_purchase_beyond_stock_is_recorded_and_goes_negative(shop: Shop) -> None:
    p = shop.create_product(stock=1)
    with shop.kiosk() as c:
        resp = c.post("/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 3}]})
        assert resp.status_code == 201
        snap = c.get(f"/api/inventory/{p['id']}").json()
    assert snap["current_stock"] == -2
    assert snap["negative_flag"] is True


def test_same_idempotency_key_and_body_returns_first_answer_and_writes_nothing(shop: Shop) -> None:
    p = shop.create_product(stock=10)
    body = {"items": [{"product_id": p["id"], "quantity": 1}]}
    with shop.kiosk() as c:
        first = c.post("/api/purchases", json=body, headers={"Idempotency-Key": "basket-1"})
        second = c.post("/api/purchases", json=body, headers={"Idempotency-Key": "basket-1"})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert _ledger(shop.db_url, p["id"]) == [(10, "system"), (-1, "purchase")]


def test_same_idempotency_key_with_other_body_is_409(shop: Shop) -> None:
    p = shop.create_product(stock=10)
    with shop.kiosk() as c:
        c.post(
            "/api/purchases",
            json={"items": [{"product_id": p["id"], "quantity": 1}]},
            headers={"Idempotency-Key": "basket-2"},
        )
        resp = c.post(
            "/api/purchases",
            json={"items": [{"product_id": p["id"], "quantity": 2}]},
            headers={"Idempotency-Key": "basket-2"},
        )
    assert resp.status_code == 409
    assert resp.headers["content-type"] == "application/problem+json"
    assert _ledger(shop.db_url, p["id"]) == [(10, "system"), (-1, "purchase")]
