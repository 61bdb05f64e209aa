"""GET /api/inventory/{id}/insight and GET /api/inventory/reorder (SPEC 7.3)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.fixtures.server import Shop


def _history(db_url: str, product_id: int, moves: list[tuple[int, str, int]]) -> None:
    """(days ago, source, delta) rows, dated in the past as a shop's history would be."""
    with psycopg.connect(db_url) as conn:
        for days_ago, source, delta in moves:
            conn.execute(
                "INSERT INTO inventory_ledger (product_id, delta, source, reason, created_at)"
                " VALUES (%s, %s, %s, 'history', now() - make_interval(days => %s))",
                (product_id, delta, source, days_ago),
            )


def test_insight_gives_rate_cover_suggestion_and_a_daily_series(shop: Shop) -> None:
    p = shop.create_product(threshold=90)
    _history(
        shop.db_url,
        p["id"],
        [
            (10, "system", 100),
            (3, "purchase", -4),
            (1, "purchase", -6),
            (1, "manual_adjustment", 1),
        ],
    )
    with shop.kiosk() as k:
        bought = k.post("/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 2}]})
        assert bought.status_code == 201
        resp = k.get(f"/api/inventory/{p['id']}/insight", params={"days": 7})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["product_id"], body["days"], body["lead_days"]) == (p["id"], 7, 7)
    assert (body["current_stock"], body["sold"]) == (89, 12)
    assert body["sold_per_day"] == round(12 / 7, 4)
    assert body["days_of_cover"] == round(89 / (12 / 7), 2)
    assert body["suggested_reorder_quantity"] == 12 + 90 - 89
    today = datetime.now(UTC).date()
    assert [pt["date"] for pt in body["series"]] == [
        (today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)
    ]
    assert [pt["sold"] for pt in body["series"]] == [0, 0, 0, 4, 0, 6, 2]
    assert [pt["stock"] for pt in body["series"]] == [100, 100, 100, 96, 96, 91, 89]


def test_a_product_that_sold_nothing_has_null_cover_and_default_window(shop: Shop) -> None:
    p = shop.create_product(stock=3, threshold=5)
    with shop.admin() as c:
        body = c.get(f"/api/inventory/{p['id']}/insight").json()
    assert (body["days"], body["sold"], body["sold_per_day"]) == (28, 0, 0.0)
    assert body["days_of_cover"] is None
    assert body["suggested_reorder_quantity"] == 2
    assert len(body["series"]) == 28
    assert {pt["stock"] for pt in body["series"][-1:]} == {3}


def test_reorder_list_is_sorted_by_days_of_cover_with_no_sales_last(shop: Shop) -> None:
    fast = shop.create_product(threshold=2)
    slow = shop.create_product(threshold=2)
    idle = shop.create_product(stock=1, threshold=4)
    full = shop.create_product(threshold=0)
    _history(shop.db_url, fast["id"], [(20, "system", 30), (2, "purchase", -28)])  # 2 left
    _history(shop.db_url, slow["id"], [(20, "system", 30), (2, "purchase", -24)])  # 6 left
    _history(shop.db_url, full["id"], [(20, "system", 500), (2, "purchase", -1)])
    with shop.kiosk() as k:
        resp = k.get("/api/inventory/reorder")
    assert resp.status_code == 200, resp.text
    ours = {fast["id"]: "fast", slow["id"]: "slow", idle["id"]: "idle", full["id"]: "full"}
    listed = [item for item in resp.json() if item["product_id"] in ours]
    assert [ours[i["product_id"]] for i in listed] == ["fast", "slow", "idle"]
    first = listed[0]
    assert (first["sku"], first["current_stock"], first["sold"]) == (fast["sku"], 2, 28)
    assert first["suggested_reorder_quantity"] == 7 + 2 - 2
    assert listed[2]["days_of_cover"] is None
    covers = [i["days_of_cover"] for i in resp.json() if i["days_of_cover"] is not None]
    assert covers == sorted(covers)


def test_insight_and_reorder_refuse_bad_windows_and_unknown_products(shop: Shop) -> None:
    p = shop.create_product()
    with shop.admin() as c:
        answers = [
            c.get(f"/api/inventory/{p['id']}/insight", params={"days": 0}),
            c.get(f"/api/inventory/{p['id']}/insight", params={"days": 366}),
            c.get(f"/api/inventory/{p['id']}/insight", params={"days": "week"}),
            c.get("/api/inventory/reorder", params={"days": -1}),
            c.get(f"/api/inventory/{2**62}/insight"),
        ]
    with shop.server.client() as anon:
        answers.append(anon.get("/api/inventory/reorder"))
    assert [a.status_code for a in answers] == [422, 422, 422, 422, 404, 401]
    assert all(a.headers["content-type"].startswith("application/problem+json") for a in answers)


def _daily_vs_ledger(db_url: str, ids: list[int]) -> tuple[Any, Any]:
    with psycopg.connect(db_url) as conn:
        daily = conn.execute(
            "SELECT product_id, day, sold FROM inventory_sales_daily"
            " WHERE product_id = ANY(%s) ORDER BY 1, 2",
            (ids,),
        ).fetchall()
        ledger = conn.execute(
            "SELECT product_id, (created_at AT TIME ZONE 'UTC')::date, sum(-delta)"
            " FROM inventory_ledger WHERE source = 'purchase' AND product_id = ANY(%s)"
            " GROUP BY 1, 2 ORDER BY 1, 2",
            (ids,),
        ).fetchall()
    return daily, ledger


def test_daily_sales_stay_equal_to_the_ledger_under_concurrent_baskets(shop: Shop) -> None:
    a, b = shop.create_product(stock=500), shop.create_product(stock=500)
    _history(shop.db_url, a["id"], [(3, "purchase", -4), (3, "manual_adjustment", -9)])
    start = threading.Barrier(4)
    statuses: list[int] = []

    def kiosk(n: int) -> None:
        with shop.kiosk() as k:
            start.wait()
            for i in range(10):
                items = [{"product_id": a["id"], "quantity": 1 + (n + i) % 3}]
                if i % 2:
                    items.append({"product_id": b["id"], "quantity": 2})
                statuses.append(k.post("/api/purchases", json={"items": items}).status_code)
            # refused as a whole (unknown product): its lines must not count as sold
            refused = k.post(
                "/api/purchases",
                json={
                    "items": [
                        {"product_id": a["id"], "quantity": 5},
                        {"product_id": 2**62, "quantity": 1},
                    ]
                },
            )
            statuses.append(refused.status_code)

    threads = [threading.Thread(target=kiosk, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(statuses)) == [201, 404]
    daily, ledger = _daily_vs_ledger(shop.db_url, [a["id"], b["id"]])
    assert daily == ledger
    assert sum(row[2] for row in daily if row[0] == b["id"]) == 4 * 5 * 2
    with psycopg.connect(shop.db_url) as conn:
        conn.execute("SELECT stockline_inventory_sales_daily_rebuild()")
    assert _daily_vs_ledger(shop.db_url, [a["id"], b["id"]]) == (daily, ledger)
