"""GET /api/inventory/events against a real `serve`: event types and payloads per cause,
ids, auth (bearer, cookie, query token), snapshot, heartbeat and retry hint."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.fixtures.server import Shop, make_shop
from tests.fixtures.sse import Event, EventCollector, assert_strictly_increasing

STOCK_KEYS = {
    "product_id",
    "current_stock",
    "low_stock_flag",
    "negative_flag",
    "tracking_enabled",
    "last_activity_at",
    "delta",
    "source",
}


def _for(events: list[Event], product_id: int) -> list[Event]:
    return [
        e for e in events if isinstance(e.data, dict) and e.data.get("product_id") == product_id
    ]


def _buy(shop: Shop, product_id: int, quantity: int) -> None:
    with shop.kiosk() as c:
        resp = c.post(
            "/api/purchases", json={"items": [{"product_id": product_id, "quantity": quantity}]}
        )
    assert resp.status_code == 201, resp.text


def test_each_cause_emits_its_event_with_the_spec_payload_and_ids_increase(shop: Shop) -> None:
    with EventCollector(shop.server.url, token=shop.admin_token) as stream:
        p = shop.create_product(stock=10, threshold=4)
        pid = p["id"]
        _buy(shop, pid, 3)  # 7
        with shop.admin() as c:
            r = c.post(f"/api/inventory/{pid}/adjustments", json={"delta": -2, "reason": "broken"})
            assert r.status_code == 201, r.text  # 5
            r = c.post(
                f"/api/inventory/{pid}/reconciliations",
                json={"counted_quantity": 4, "reason": "count"},
            )
            assert r.status_code == 201, r.text  # 4: breach
            r = c.post(f"/api/inventory/{pid}/adjustments", json={"delta": 10, "reason": "restock"})
            assert r.status_code == 201, r.text  # 14: cleared
            assert c.put(f"/api/inventory/{pid}/tracking", json={"enabled": False}).is_success
            assert c.put("/api/admin/config", json={"inventory_tracking_enabled": False}).is_success
            assert c.put("/api/admin/config", json={"inventory_tracking_enabled": True}).is_success
            assert c.put(f"/api/inventory/{pid}/tracking", json={"enabled": True}).is_success

        def done(s: EventCollector) -> bool:
            return len([e for e in s.events if e.type == "tracking-toggled"]) >= 4

        stream.wait_for(done, what="all events")
        events = [e for e in stream.events if e.type != "snapshot"]

    mine = _for(events, pid)
    assert [(e.type, e.data.get("source")) for e in mine] == [
        ("stock-updated", "system"),
        ("stock-updated", "purchase"),
        ("stock-updated", "manual_adjustment"),
        ("stock-updated", "reconciliation"),
        ("threshold-breach", None),
        ("stock-updated", "manual_adjustment"),
        ("threshold-cleared", None),
        ("tracking-toggled", None),
        ("tracking-toggled", None),
    ]
    updates = [e.data for e in mine if e.type == "stock-updated"]
    assert all(set(u) == STOCK_KEYS for u in updates)
    assert [(u["current_stock"], u["delta"]) for u in updates] == [
        (10, 10),
        (7, -3),
        (5, -2),
        (4, -1),
        (14, 10),
    ]
    assert updates[3]["low_stock_flag"] is True and updates[4]["low_stock_flag"] is False
    assert updates[0]["negative_flag"] is False and updates[0]["tracking_enabled"] is True
    breach = next(e.data for e in mine if e.type == "threshold-breach")
    assert breach == {"product_id": pid, "current_stock": 4, "threshold": 4}
    cleared = next(e.data for e in mine if e.type == "threshold-cleared")
    assert cleared == {"product_id": pid, "current_stock": 14, "threshold": 4}
    toggles = [e.data for e in events if e.type == "tracking-toggled"]
    assert toggles == [
        {"scope": "product", "product_id": pid, "enabled": False},
        {"scope": "global", "enabled": False},
        {"scope": "global", "enabled": True},
        {"scope": "product", "product_id": pid, "enabled": True},
    ]
    ids = [e.id for e in events]
    assert all(isinstance(i, int) for i in ids)
    assert_strictly_increasing([i for i in ids if i is not None])


def test_stream_is_text_event_stream_with_retry_hint_and_heartbeats(shop: Shop) -> None:
    with EventCollector(shop.server.url, token=shop.kiosk_token) as stream:
        assert stream.status == 200
        assert stream.headers is not None
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "no-store" in stream.headers["cache-control"]
        # FAST_ENV: STOCKLINE_SSE_HEARTBEAT_SECONDS=1; no events in between
        stream.wait_for(
            lambda s: sum(1 for _, text in s.parser.comments if text == "heartbeat") >= 2,
            timeout=5,
            what="two heartbeats",
        )
        assert stream.parser.retry is not None and stream.parser.retry > 0
        beats = [t for t, text in stream.parser.comments if text == "heartbeat"]
        assert beats[1] - beats[0] < 2.0


def test_stream_needs_a_credential(shop: Shop) -> None:
    resp = httpx.get(shop.server.url + "/api/inventory/events", timeout=10)
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    resp = httpx.get(
        shop.server.url + "/api/inventory/events",
        headers={"Authorization": "Bearer kiosk_not-a-real-token"},
        timeout=10,
    )
    assert resp.status_code == 401
    resp = httpx.get(
        shop.server.url + "/api/inventory/events", params={"token": "evt_forged.abc"}, timeout=10
    )
    assert resp.status_code == 401


def test_query_token_from_the_token_endpoint_opens_the_stream(shop: Shop) -> None:
    with shop.kiosk() as c:
        resp = c.post("/api/inventory/events/token")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert 0 < body["expires_in"] <= 120
    assert shop.kiosk_token not in body["token"]
    with EventCollector(shop.server.url, params={"token": body["token"]}) as stream:
        assert stream.status == 200
        p = shop.create_product(stock=3)
        stream.wait_for(lambda s: bool(_for(s.events, p["id"])), what="event via token")
    tampered = body["token"][:-2] + ("AA" if not body["token"].endswith("AA") else "BB")
    resp = httpx.get(
        shop.server.url + "/api/inventory/events", params={"token": tampered}, timeout=10
    )
    assert resp.status_code == 401


def test_session_cookie_opens_the_stream_same_origin(shop: Shop) -> None:
    login = httpx.post(
        shop.server.url + "/api/auth/login",
        json={"email": shop.admin_email, "password": shop.admin_password},
    )
    assert login.status_code == 200
    cookies = dict(login.cookies)
    assert cookies
    with EventCollector(shop.server.url, cookies=cookies) as stream:
        assert stream.status == 200, stream.body_text
        p = shop.create_product(stock=2)
        stream.wait_for(lambda s: bool(_for(s.events, p["id"])), what="event via cookie")


def test_snapshot_first_holds_all_inventory_and_the_position_it_reflects(shop: Shop) -> None:
    a = shop.create_product(stock=5, threshold=2)
    b = shop.create_product(stock=1, threshold=2)
    with EventCollector(shop.server.url, token=shop.kiosk_token, params={"snapshot": 1}) as s:
        s.wait_events(1)
        first = s.events[0]
        assert first.type == "snapshot"
        inventory = {row["product_id"]: row for row in first.data["inventory"]}
        assert inventory[a["id"]]["current_stock"] == 5
        assert inventory[b["id"]]["low_stock_flag"] is True
        assert first.id == first.data["last_event_id"]
        _buy(shop, a["id"], 1)
        s.wait_for(lambda c: bool(_for(c.events[1:], a["id"])), what="delta after snapshot")
        delta = _for(s.events[1:], a["id"])[0]
        assert delta.id is not None and delta.id == first.id + 1
        assert delta.data["current_stock"] == 4


def test_events_path_is_not_taken_for_a_product_id(shop: Shop) -> None:
    # /api/inventory/{product_id} must not swallow /api/inventory/events
    with shop.kiosk() as c:
        resp = c.get("/api/inventory/events", params={"last_event_id": "x"})
    assert resp.status_code == 422
    assert "last_event_id" in resp.text


def test_first_event_arrives_quickly_after_the_write(shop: Shop) -> None:
    with EventCollector(shop.server.url, token=shop.kiosk_token) as stream:
        p = shop.create_product(stock=1)
        written = time.time()
        stream.wait_for(lambda s: bool(_for(s.events, p["id"])), timeout=5, what="event")
        assert _for(stream.events, p["id"])[0].received_at - written < 0.5


def test_live_frames_are_written_by_the_publisher_to_idle_streams_in_order(shop: Shop) -> None:
    p = shop.create_product(stock=100)
    before = httpx.get(shop.server.url + "/healthz", timeout=10).json()["events"]["hub"]
    streams = [EventCollector(shop.server.url, token=shop.kiosk_token) for _ in range(3)]
    try:
        time.sleep(0.2)  # every stream is live and parked on its wake-up
        for _ in range(5):
            _buy(shop, p["id"], 1)
        for s in streams:
            s.wait_for(lambda s: len(_for(s.events, p["id"])) >= 5, timeout=10, what="events")
        stocks = [[e.data["current_stock"] for e in _for(s.events, p["id"])] for s in streams]
        assert stocks == [[99, 98, 97, 96, 95]] * 3
        for s in streams:
            assert_strictly_increasing(s.ids)
    finally:
        for s in streams:
            s.close()
    hub = httpx.get(shop.server.url + "/healthz", timeout=10).json()["events"]["hub"]
    # the writes came from the publishing side: no stream task was woken for them
    assert hub["pushed"] - before["pushed"] >= 3


def test_unusual_but_valid_parameters_are_served_by_the_full_route(shop: Shop) -> None:
    # "y" is a boolean to the API's validation, not to the stream's fast path: the
    # request falls through to the FastAPI route, which must serve the same stream
    p = shop.create_product(stock=3)
    with EventCollector(shop.server.url, token=shop.kiosk_token, params={"snapshot": "y"}) as s:
        s.wait_events(1)
        assert s.events[0].type == "snapshot"
        assert any(row["product_id"] == p["id"] for row in s.events[0].data["inventory"])
        assert s.headers is not None
        assert "script-src 'self'" in s.headers["content-security-policy"]
    with EventCollector(shop.server.url, token=shop.kiosk_token) as fast:
        assert fast.headers is not None
        assert "script-src 'self'" in fast.headers["content-security-policy"]
        assert fast.headers["x-content-type-options"] == "nosniff"


def test_query_token_expires(fresh_db: str, server_factory: Any) -> None:
    server = server_factory(fresh_db, env={"STOCKLINE_SSE_TOKEN_SECONDS": "1"})
    shop = make_shop(server)
    with shop.kiosk() as c:
        token = c.post("/api/inventory/events/token").json()["token"]
    with EventCollector(server.url, params={"token": token}) as stream:
        assert stream.status == 200
    deadline = time.monotonic() + 10
    while True:  # valid for one second, then refused
        with httpx.stream(
            "GET", server.url + "/api/inventory/events", params={"token": token}, timeout=5
        ) as resp:
            if resp.status_code == 401:
                break
        assert time.monotonic() < deadline, "token never expired"
        time.sleep(0.2)
