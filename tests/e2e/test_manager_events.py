"""The manager's writes (import, stocktake commit, bulk actions) reach every event
stream like any other stock change: in order, with their source and the new stock."""

from __future__ import annotations

import uuid
from typing import Any

from tests.fixtures.server import Shop
from tests.fixtures.sse import Event, EventCollector


def _for(events: list[Event], product_id: int) -> list[tuple[str, Any, Any]]:
    return [
        (e.type, e.data.get("source"), e.data.get("current_stock"))
        for e in events
        if isinstance(e.data, dict) and e.data.get("product_id") == product_id
    ]


def test_import_stocktake_and_bulk_changes_stream_as_stock_events(shop: Shop) -> None:
    sku = f"EV-{uuid.uuid4().hex[:8]}"
    with EventCollector(shop.server.url, token=shop.kiosk_token) as stream, shop.admin() as c:
        imported = c.post(
            "/api/products/import",
            content=f"sku,name,price_cents,low_stock_threshold,initial_stock\n{sku},Ev,1,2,10\n",
            headers={"Content-Type": "text/csv"},
        )
        assert imported.status_code == 200, imported.text
        pid = next(p["id"] for p in c.get("/api/products", params={"q": sku}).json())
        take = c.post("/api/stocktakes", json={"product_ids": [pid], "note": "ev"}).json()
        c.put(f"/api/stocktakes/{take['id']}/lines/{pid}", json={"counted_quantity": 2})
        assert c.post(f"/api/stocktakes/{take['id']}/commit").status_code == 200
        bulk = c.post(
            "/api/products/bulk",
            json={"product_ids": [pid], "action": "adjust", "delta": 5, "reason": "restock"},
        )
        assert bulk.status_code == 200, bulk.text
        stream.wait_for(
            lambda s: len(_for(s.events, pid)) >= 5, what="import, stocktake and bulk events"
        )
        ids = stream.ids
    assert _for(stream.events, pid) == [
        ("stock-updated", "system", 10),
        ("stock-updated", "reconciliation", 2),
        ("threshold-breach", None, 2),
        ("stock-updated", "manual_adjustment", 7),
        ("threshold-cleared", None, 7),
    ]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
