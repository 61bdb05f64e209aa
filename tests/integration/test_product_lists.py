"""GET /api/products sorted, filtered and paged; POST /api/products/bulk (issue 13)."""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

import httpx
import psycopg

from tests.fixtures.db import balance, fingerprint, scalar
from tests.fixtures.server import Shop


def _tag() -> str:
    return "T" + uuid.uuid4().hex[:8].upper()


def _skus(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [p["sku"] for p in resp.json()]


def _import(c: httpx.Client, lines: list[str]) -> None:
    body = "sku,name,price_cents,low_stock_threshold,category,barcode,initial_stock\n"
    resp = c.post(
        "/api/products/import",
        content=(body + "\n".join(lines) + "\n").encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert resp.status_code == 200, resp.text


def _natural(sku: str) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", sku)]


def test_skus_sort_naturally_both_ways(shop: Shop) -> None:
    t = _tag()
    with shop.admin() as c:
        _import(
            c,
            [
                f"BULK-{t}-10,a,1,,,,",
                f"BULK-{t}-2,b,1,,,,",
                f"bulk-{t}-1,c,1,,,,",
                f"BULK-{t}-02b,d,1,,,,",
            ],
        )
        up = _skus(c.get("/api/products", params={"q": t, "sort": "sku"}))
        down = _skus(c.get("/api/products", params={"q": t, "sort": "-sku"}))
    assert up == [f"bulk-{t}-1", f"BULK-{t}-2", f"BULK-{t}-02b", f"BULK-{t}-10"]
    assert down == up[::-1]


def test_the_sort_key_follows_a_renamed_sku_and_a_sale_and_is_never_set_by_hand(shop: Shop) -> None:
    # migration 0020: the key is kept by a trigger, no longer a generated column, so that
    # a stock change (an UPDATE of the product row) no longer recomputes it
    t = _tag()
    with shop.admin() as c:
        _import(c, [f"BULK-{t}-10,a,1,,,,5", f"BULK-{t}-9,b,1,,,,5"])
        assert _skus(c.get("/api/products", params={"q": t, "sort": "sku"})) == [
            f"BULK-{t}-9",
            f"BULK-{t}-10",
        ]
        ten = next(
            p for p in c.get("/api/products", params={"q": t}).json() if p["sku"].endswith("-10")
        )
        # the API keeps SKUs; an operator renames one in psql
        with psycopg.connect(shop.db_url) as conn:
            conn.execute("UPDATE products SET sku = %s WHERE id = %s", (f"BULK-{t}-1", ten["id"]))
        assert _skus(c.get("/api/products", params={"q": t, "sort": "sku"})) == [
            f"BULK-{t}-1",
            f"BULK-{t}-9",
        ]
    with shop.kiosk() as k:
        resp = k.post("/api/purchases", json={"items": [{"product_id": ten["id"], "quantity": 1}]})
        assert resp.status_code == 201, resp.text
    with psycopg.connect(shop.db_url) as conn:
        conn.execute("UPDATE products SET sku_sort_key = 'zzz' WHERE id = %s", (ten["id"],))
    assert scalar(
        shop.db_url,
        "SELECT sku_sort_key = stockline_natural_sort_key(sku) FROM products WHERE id = %s",
        ten["id"],
    )


def test_other_columns_sort_and_filters_narrow_the_list(shop: Shop) -> None:
    t = _tag()
    with shop.admin() as c:
        _import(
            c,
            [
                f"{t}-A,Zebra,300,,Fruit,,5",
                f"{t}-B,apple,100,2,Fruit,,9",
                f"{t}-C,Mango,200,,Veg,,1",
            ],
        )
        by_price = _skus(c.get("/api/products", params={"q": t, "sort": "price_cents"}))
        by_stock = _skus(c.get("/api/products", params={"q": t, "sort": "-current_stock"}))
        by_name = _skus(c.get("/api/products", params={"q": t, "sort": "name"}))
        fruit = _skus(c.get("/api/products", params={"q": t, "category": "Fruit", "sort": "sku"}))
        by_name_part = _skus(c.get("/api/products", params={"q": f"{t}-C"}))
        c.patch(
            f"/api/products/{c.get('/api/products', params={'q': f'{t}-A'}).json()[0]['id']}",
            json={"active": False},
        )
        active = _skus(c.get("/api/products", params={"q": t, "active": "true", "sort": "sku"}))
    assert by_price == [f"{t}-B", f"{t}-C", f"{t}-A"]
    assert by_stock == [f"{t}-B", f"{t}-A", f"{t}-C"]
    assert by_name == [f"{t}-B", f"{t}-C", f"{t}-A"]
    assert fruit == [f"{t}-A", f"{t}-B"]
    assert by_name_part == [f"{t}-C"]
    assert active == [f"{t}-B", f"{t}-C"]


def test_search_text_is_literal_not_a_pattern(shop: Shop) -> None:
    t = _tag()
    with shop.admin() as c:
        _import(c, [f"{t}_X,under score,1,,,,", f"{t}AX,plain,1,,,,"])
        underscored = _skus(c.get("/api/products", params={"q": f"{t}_"}))
        percent = _skus(c.get("/api/products", params={"q": f"{t}%"}))
    assert underscored == [f"{t}_X"]
    assert percent == []


def test_5000_products_page_through_without_gaps_or_repeats(shop: Shop) -> None:
    t = _tag()
    n = 5000
    with shop.admin() as c:
        _import(c, [f"{t}-{i},Item {i},{i},,,,{i % 3}" for i in range(n)])
        seen: list[str] = []
        totals = set()
        for offset in range(0, n, 1000):
            resp = c.get(
                "/api/products",
                params={"q": t, "sort": "sku", "limit": 1000, "offset": offset},
            )
            totals.add(resp.headers["x-total-count"])
            seen += _skus(resp)
        past_end = c.get("/api/products", params={"q": t, "limit": 10, "offset": n})
    assert totals == {str(n)}
    assert len(seen) == len(set(seen)) == n
    assert seen == sorted(seen, key=_natural)
    assert past_end.json() == [] and past_end.headers["x-total-count"] == str(n)


def test_bad_list_parameters_are_422(shop: Shop) -> None:
    with shop.admin() as c:
        answers = [
            c.get("/api/products", params={"sort": "stock; DROP TABLE products"}),
            c.get("/api/products", params={"limit": 0}),
            c.get("/api/products", params={"limit": 1001}),
            c.get("/api/products", params={"offset": -1}),
            c.get("/api/products", params={"q": "q" * 101}),
            c.get("/api/products", params={"active": "maybe"}),
        ]
    assert [a.status_code for a in answers] == [422] * 6
    assert all(a.headers["content-type"].startswith("application/problem+json") for a in answers)


def test_bulk_adjust_writes_one_ledger_row_per_product(shop: Shop) -> None:
    products = [shop.create_product(stock=s) for s in (1, 2, 3)]
    ids = [p["id"] for p in products]
    with shop.admin() as c:
        resp = c.post(
            "/api/products/bulk",
            json={"product_ids": ids[::-1], "action": "adjust", "delta": 4, "reason": "delivery"},
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [e["product_id"] for e in body["entries"]] == ids
    assert {(e["delta"], e["source"], e["reason"]) for e in body["entries"]} == {
        (4, "manual_adjustment", "delivery")
    }
    assert [p["stock_quantity"] for p in body["products"]] == [5, 6, 7]
    for pid, expected in zip(ids, (5, 6, 7), strict=True):
        assert balance(shop.db_url, pid) == (expected, expected, expected)


def test_bulk_threshold_and_active_change_every_selected_product(shop: Shop) -> None:
    products = [shop.create_product(stock=3) for _ in range(2)]
    ids = [p["id"] for p in products]
    with shop.admin() as c:
        low = c.post(
            "/api/products/bulk",
            json={"product_ids": ids, "action": "threshold", "low_stock_threshold": 5},
        ).json()
        cleared = c.post(
            "/api/products/bulk",
            json={"product_ids": ids, "action": "threshold", "low_stock_threshold": None},
        ).json()
        off = c.post("/api/products/bulk", json={"product_ids": ids, "action": "deactivate"})
        on = c.post("/api/products/bulk", json={"product_ids": ids, "action": "activate"})
    assert [
        (p["low_stock_threshold"], p["snapshot"]["low_stock_flag"]) for p in low["products"]
    ] == [
        (5, True),
        (5, True),
    ]
    assert [p["low_stock_threshold"] for p in cleared["products"]] == [None, None]
    assert [p["active"] for p in off.json()["products"]] == [False, False]
    assert [p["active"] for p in on.json()["products"]] == [True, True]
    assert low["entries"] == [] and off.json()["entries"] == []


def test_bad_bulk_requests_change_nothing(shop: Shop) -> None:
    p = shop.create_product(stock=1)
    before = fingerprint(shop.db_url)
    with shop.admin() as c:
        answers = {
            "unknown id": c.post(
                "/api/products/bulk",
                json={
                    "product_ids": [p["id"], 2**62],
                    "action": "adjust",
                    "delta": 1,
                    "reason": "x",
                },
            ).status_code,
            "no reason": c.post(
                "/api/products/bulk",
                json={"product_ids": [p["id"]], "action": "adjust", "delta": 1},
            ).status_code,
            "zero delta": c.post(
                "/api/products/bulk",
                json={"product_ids": [p["id"]], "action": "adjust", "delta": 0, "reason": "x"},
            ).status_code,
            "no threshold": c.post(
                "/api/products/bulk", json={"product_ids": [p["id"]], "action": "threshold"}
            ).status_code,
            "bad action": c.post(
                "/api/products/bulk", json={"product_ids": [p["id"]], "action": "delete"}
            ).status_code,
            "empty": c.post(
                "/api/products/bulk", json={"product_ids": [], "action": "activate"}
            ).status_code,
            "too many": c.post(
                "/api/products/bulk",
                json={"product_ids": list(range(1, 1002)), "action": "activate"},
            ).status_code,
        }
    with shop.kiosk() as k:
        answers["kiosk"] = k.post(
            "/api/products/bulk", json={"product_ids": [p["id"]], "action": "deactivate"}
        ).status_code
    assert answers == {
        "unknown id": 404,
        "no reason": 422,
        "zero delta": 422,
        "no threshold": 422,
        "bad action": 422,
        "empty": 422,
        "too many": 422,
        "kiosk": 403,
    }
    assert fingerprint(shop.db_url) == before


def test_bulk_adjustments_and_purchases_in_opposite_order_never_deadlock(shop: Shop) -> None:
    products = [shop.create_product(stock=1000) for _ in range(4)]
    ids = [p["id"] for p in products]
    statuses: list[int] = []
    start = threading.Barrier(6)

    def buyer() -> None:
        with shop.kiosk() as k:
            start.wait()
            for _ in range(15):
                items = [{"product_id": pid, "quantity": 1} for pid in reversed(ids)]
                statuses.append(k.post("/api/purchases", json={"items": items}).status_code)

    def restocker() -> None:
        with shop.admin() as c:
            start.wait()
            for _ in range(15):
                statuses.append(
                    c.post(
                        "/api/products/bulk",
                        json={"product_ids": ids, "action": "adjust", "delta": 2, "reason": "r"},
                    ).status_code
                )

    threads = [threading.Thread(target=buyer) for _ in range(4)]
    threads += [threading.Thread(target=restocker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(statuses)) == [200, 201]
    assert len(statuses) == 90
    for pid in ids:
        assert balance(shop.db_url, pid) == (1000 - 60 + 60,) * 3
        rows = scalar(
            shop.db_url,
            "SELECT count(*) FROM inventory_ledger WHERE product_id = %s AND source ="
            " 'manual_adjustment'",
            pid,
        )
        assert rows == 30
