"""The ledger's rules (S-1…S-6) as the database enforces them, through the HTTP API."""

from __future__ import annotations

import psycopg
import pytest

from tests.fixtures.db import balance, scalar
from tests.fixtures.server import Shop


def _buy(shop: Shop, product_id: int, quantity: int = 1) -> None:
    with shop.kiosk() as c:
        resp = c.post(
            "/api/purchases", json={"items": [{"product_id": product_id, "quantity": quantity}]}
        )
    assert resp.status_code == 201, resp.text


def _snapshot(shop: Shop, product_id: int) -> dict[str, object]:
    with shop.kiosk() as c:
        data: dict[str, object] = c.get(f"/api/inventory/{product_id}").json()
    return data


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE inventory_ledger SET delta = 99 WHERE product_id = %s",
        "DELETE FROM inventory_ledger WHERE product_id = %s",
    ],
)
def test_database_rejects_rewriting_the_ledger(shop: Shop, statement: str) -> None:
    p = shop.create_product(stock=5)
    with psycopg.connect(shop.db_url) as conn, pytest.raises(psycopg.errors.RestrictViolation):
        conn.execute(statement, (p["id"],))
    assert balance(shop.db_url, p["id"]) == (5, 5, 5)


def test_database_rejects_truncating_the_ledger(shop: Shop) -> None:
    with psycopg.connect(shop.db_url) as conn, pytest.raises(psycopg.errors.RestrictViolation):
        conn.execute("TRUNCATE inventory_ledger CASCADE")


def test_stock_cannot_be_changed_except_through_the_ledger(shop: Shop) -> None:
    p = shop.create_product(stock=5)
    with psycopg.connect(shop.db_url) as conn, pytest.raises(psycopg.errors.RestrictViolation):
        conn.execute("UPDATE products SET stock_quantity = 50 WHERE id = %s", (p["id"],))


def test_initial_stock_is_one_system_ledger_row(shop: Shop) -> None:
    p = shop.create_product(stock=12)
    assert p["stock_quantity"] == 12 and p["snapshot"]["current_stock"] == 12
    with psycopg.connect(shop.db_url) as conn:
        rows = conn.execute(
            "SELECT delta, source FROM inventory_ledger WHERE product_id = %s", (p["id"],)
        ).fetchall()
    assert rows == [(12, "system")]


def test_product_without_initial_stock_has_no_ledger_row(shop: Shop) -> None:
    p = shop.create_product(stock=0)
    assert (
        scalar(shop.db_url, "SELECT count(*) FROM inventory_ledger WHERE product_id = %s", p["id"])
        == 0
    )


def test_negative_flag_follows_stock_below_zero(shop: Shop) -> None:
    p = shop.create_product(stock=1)
    _buy(shop, p["id"], 1)
    assert _snapshot(shop, p["id"])["negative_flag"] is False
    _buy(shop, p["id"], 1)
    snap = _snapshot(shop, p["id"])
    assert snap["current_stock"] == -1 and snap["negative_flag"] is True
    with shop.admin() as c:
        c.post(f"/api/inventory/{p['id']}/adjustments", json={"delta": 1, "reason": "found one"})
    assert _snapshot(shop, p["id"])["negative_flag"] is False


def test_low_stock_flag_is_set_at_and_below_threshold(shop: Shop) -> None:
    p = shop.create_product(stock=4, threshold=2)
    assert _snapshot(shop, p["id"])["low_stock_flag"] is False
    _buy(shop, p["id"], 2)  # 2 <= 2
    assert _snapshot(shop, p["id"])["low_stock_flag"] is True


def test_no_threshold_means_never_low(shop: Shop) -> None:
    p = shop.create_product(stock=0, threshold=None)
    _buy(shop, p["id"], 5)
    assert _snapshot(shop, p["id"])["low_stock_flag"] is False


def test_threshold_change_recomputes_the_flag(shop: Shop) -> None:
    p = shop.create_product(stock=5, threshold=1)
    with shop.admin() as c:
        resp = c.patch(f"/api/products/{p['id']}", json={"low_stock_threshold": 5})
        assert resp.status_code == 200
        assert resp.json()["snapshot"]["low_stock_flag"] is True
        resp = c.patch(f"/api/products/{p['id']}", json={"low_stock_threshold": None})
        assert resp.json()["low_stock_threshold"] is None
        assert resp.json()["snapshot"]["low_stock_flag"] is False


def test_new_product_without_stock_under_threshold_starts_low(shop: Shop) -> None:
    p = shop.create_product(stock=0, threshold=3)
    assert p["snapshot"]["low_stock_flag"] is True


def test_well_stocked_new_product_raises_no_breach_or_clear(shop: Shop) -> None:
    p = shop.create_product(stock=50, threshold=3)
    with psycopg.connect(shop.db_url) as conn:
        types = [
            r[0]
            for r in conn.execute(
                "SELECT type FROM inventory_events WHERE payload->>'product_id' = %s ORDER BY id",
                (str(p["id"]),),
            )
        ]
    assert types == ["stock-updated"]


def test_reconciliation_writes_the_difference_and_nothing_when_equal(shop: Shop) -> None:
    p = shop.create_product(stock=10)
    with shop.admin() as c:
        resp = c.post(
            f"/api/inventory/{p['id']}/reconciliations",
            json={"counted_quantity": 7, "reason": "weekly count"},
        )
        assert resp.status_code == 201
        body = resp.json()
        assert body["entry"]["delta"] == -3 and body["entry"]["source"] == "reconciliation"
        assert body["snapshot"]["current_stock"] == 7
        resp = c.post(
            f"/api/inventory/{p['id']}/reconciliations",
            json={"counted_quantity": 7, "reason": "recount"},
        )
        assert resp.status_code == 201
        assert resp.json()["entry"] is None
    assert balance(shop.db_url, p["id"]) == (7, 7, 7)


def test_adjustment_records_admin_and_reason(shop: Shop) -> None:
    p = shop.create_product(stock=1)
    with shop.admin() as c:
        resp = c.post(
            f"/api/inventory/{p['id']}/adjustments",
            json={"delta": -4, "reason": "damaged in transit"},
        )
    assert resp.status_code == 201
    entry = resp.json()["entry"]
    assert entry["source"] == "manual_adjustment" and entry["reason"] == "damaged in transit"
    admin_id = scalar(shop.db_url, "SELECT id FROM admins WHERE email = %s", shop.admin_email)
    assert entry["admin_id"] == admin_id
    assert resp.json()["snapshot"]["current_stock"] == -3


def test_purchase_of_untracked_product_is_recorded_without_ledger_row(shop: Shop) -> None:
    p = shop.create_product(stock=5, threshold=4)
    with shop.admin() as c:
        assert (
            c.put(f"/api/inventory/{p['id']}/tracking", json={"enabled": False}).json()[
                "tracking_enabled"
            ]
            is False
        )
    _buy(shop, p["id"], 3)
    assert balance(shop.db_url, p["id"]) == (5, 5, 5)
    assert (
        scalar(shop.db_url, "SELECT count(*) FROM transaction_items WHERE product_id = %s", p["id"])
        == 1
    )
    assert (
        scalar(
            shop.db_url,
            "SELECT count(*) FROM email_notification_log WHERE product_id = %s",
            p["id"],
        )
        == 0
    )
    with shop.admin() as c:  # adjustments still write the ledger
        c.post(f"/api/inventory/{p['id']}/adjustments", json={"delta": 2, "reason": "delivery"})
        c.put(f"/api/inventory/{p['id']}/tracking", json={"enabled": True})
    assert balance(shop.db_url, p["id"]) == (7, 7, 7)
    _buy(shop, p["id"], 1)
    assert balance(shop.db_url, p["id"]) == (6, 6, 6)


def test_global_tracking_off_stops_purchase_ledger_rows_until_back_on(shop: Shop) -> None:
    p = shop.create_product(stock=5)
    with shop.admin() as c:
        resp = c.put("/api/admin/config", json={"inventory_tracking_enabled": False})
        assert resp.status_code == 200 and resp.json()["inventory_tracking_enabled"] is False
    try:
        _buy(shop, p["id"], 2)
        assert balance(shop.db_url, p["id"]) == (5, 5, 5)
        with shop.kiosk() as c:
            assert c.get(f"/api/inventory/{p['id']}").json()["tracking_effective"] is False
    finally:
        with shop.admin() as c:
            c.put("/api/admin/config", json={"inventory_tracking_enabled": True})
    _buy(shop, p["id"], 2)
    assert balance(shop.db_url, p["id"]) == (3, 3, 3)


def test_breach_creates_one_notification_and_restock_rearms(shop: Shop) -> None:
    p = shop.create_product(stock=5, threshold=2)
    count = (
        "SELECT count(*) FROM email_notification_log WHERE product_id = %s AND type = 'low_stock'"
    )
    _buy(shop, p["id"], 3)  # 2: breach
    _buy(shop, p["id"], 1)  # 1: still low
    assert scalar(shop.db_url, count, p["id"]) == 1
    with shop.admin() as c:
        c.post(f"/api/inventory/{p['id']}/adjustments", json={"delta": 10, "reason": "delivery"})
    _buy(shop, p["id"], 10)  # 1 again: a new breach
    assert scalar(shop.db_url, count, p["id"]) == 2


def test_purchase_of_inactive_product_is_refused_and_changes_nothing(shop: Shop) -> None:
    p = shop.create_product(stock=5)
    with shop.admin() as c:
        c.patch(f"/api/products/{p['id']}", json={"active": False})
    with shop.kiosk() as c:
        resp = c.post("/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 1}]})
    assert resp.status_code == 422
    assert balance(shop.db_url, p["id"]) == (5, 5, 5)
