"""SPEC §7.1 / S-6: effective tracking turning on for a product that is low and has no
open breach is a breach: one low_stock notification and one threshold-breach event, in
the toggling transaction, exactly once, also when toggles race.

Release 1: tracking off, an adjustment takes the product below its threshold (the flag
is set, no breach: tracking is off), tracking back on: nothing, ever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from tests.fixtures.server import Shop, make_shop


def _put(shop: Shop, path: str, body: dict[str, Any]) -> None:
    with shop.admin() as c:
        resp = c.put(path, json=body)
    assert resp.status_code == 200, resp.text


def _global(shop: Shop, enabled: bool) -> None:
    _put(shop, "/api/admin/config", {"inventory_tracking_enabled": enabled})


def _product(shop: Shop, product_id: int, enabled: bool) -> None:
    _put(shop, f"/api/inventory/{product_id}/tracking", {"enabled": enabled})


def _went_low_untracked(shop: Shop, untrack: Callable[[], None], product_id: int) -> int:
    """Tracking off, then an adjustment takes the product from 10 to 2 (threshold 5)."""
    untrack()
    with shop.admin() as c:
        resp = c.post(
            f"/api/inventory/{product_id}/adjustments", json={"delta": -8, "reason": "count"}
        )
    assert resp.status_code == 201 and resp.json()["snapshot"]["low_stock_flag"] is True
    assert _breaches(shop.db_url, product_id) == []
    return product_id


def _breaches(db_url: str, product_id: int) -> list[dict[str, Any]]:
    """Each low_stock notification with the events of its product written in the same
    transaction (now() is the transaction's start: equal created_at, same transaction;
    xmin would not do, the mail worker updates the row)."""
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        notes = conn.execute(
            "SELECT id, status, breach_open, payload, created_at"
            " FROM email_notification_log WHERE product_id = %s AND type = 'low_stock'"
            " ORDER BY id",
            (product_id,),
        ).fetchall()
        for note in notes:
            note["events"] = [
                r["type"]
                for r in conn.execute(
                    "SELECT type FROM inventory_events WHERE created_at = %s"
                    " AND (payload->>'product_id')::bigint = %s ORDER BY id",
                    (note["created_at"], product_id),
                )
            ]
    return notes


def test_product_tracking_back_on_for_a_low_product_raises_its_breach(
    fresh_db: str, server_factory: Any
) -> None:
    shop = make_shop(server_factory(fresh_db))
    p = shop.create_product(stock=10, threshold=5)
    pid = _went_low_untracked(shop, lambda: _product(shop, p["id"], False), p["id"])

    _product(shop, pid, True)
    (note,) = _breaches(fresh_db, pid)
    assert note["breach_open"] and note["payload"]["current_stock"] == 2
    # the breach and the toggle in one transaction (the breach comes from the update's
    # trigger, before the toggle's event: events are emitted after row locks, S-11)
    assert note["events"] == ["threshold-breach", "tracking-toggled"]

    # off and on again with the breach still open: nothing new
    _product(shop, pid, False)
    _product(shop, pid, True)
    assert len(_breaches(fresh_db, pid)) == 1


def test_global_tracking_back_on_raises_a_breach_for_every_low_product_once(
    fresh_db: str, server_factory: Any
) -> None:
    shop = make_shop(server_factory(fresh_db))
    products = [shop.create_product(stock=10, threshold=5) for _ in range(3)]
    _global(shop, False)
    for p in products:
        _went_low_untracked(shop, lambda: None, p["id"])
    still_off = shop.create_product(stock=10, threshold=5)
    _product(shop, still_off["id"], False)
    _went_low_untracked(shop, lambda: None, still_off["id"])

    _global(shop, True)
    for p in products:
        (note,) = _breaches(fresh_db, p["id"])
        assert note["events"] == ["threshold-breach"]
    # effective tracking is still off for this one: no breach until its own toggle
    assert _breaches(fresh_db, still_off["id"]) == []
    _global(shop, False)
    _global(shop, True)
    assert all(len(_breaches(fresh_db, p["id"])) == 1 for p in products)


def test_racing_global_and_product_toggles_raise_exactly_one_breach_per_product(
    fresh_db: str, server_factory: Any
) -> None:
    server = server_factory(fresh_db, workers=2)
    shop = make_shop(server)
    products = [shop.create_product(stock=10, threshold=5) for _ in range(8)]
    _global(shop, False)
    for p in products:
        _product(shop, p["id"], False)
        _went_low_untracked(shop, lambda: None, p["id"])
    # both levels back on at once, from many clients and both processes
    start = threading.Barrier(1 + len(products))
    errors: list[str] = []

    def call(path: str, body: dict[str, Any]) -> None:
        with httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {shop.admin_token}"},
            timeout=60,
        ) as c:
            start.wait()
            resp = c.put(path, json=body)
            if resp.status_code != 200:
                errors.append(resp.text)

    threads = [
        threading.Thread(
            target=call, args=("/api/admin/config", {"inventory_tracking_enabled": True})
        )
    ] + [
        threading.Thread(
            target=call, args=(f"/api/inventory/{p['id']}/tracking", {"enabled": True})
        )
        for p in products
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for p in products:
        (note,) = _breaches(fresh_db, p["id"])
        assert note["events"].count("threshold-breach") == 1
