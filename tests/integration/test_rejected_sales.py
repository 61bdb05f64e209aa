"""Offline sales the server refused on replay: reported by the kiosk once, listed for
admins, resolved by staff; bad reports are 4xx and store nothing (SPEC §7.5)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from tests.fixtures.server import Shop


def _report(shop: Shop, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "idempotency_key": str(uuid.uuid4()),
        "items": [{"product_id": 1, "quantity": 2, "name": "Old cola", "unit_price_cents": 150}],
        "total_cents": 300,
        "sold_at": "2026-12-01T10:15:00+00:00",
        "refused_status": 422,
        "refused_detail": "product(s) not for sale: 1",
    }
    body.update(overrides)
    return body


def _stored(db_url: str, key: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM kiosk_rejected_sales WHERE idempotency_key = %s", (key,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_refused_sale_reported_twice_is_stored_once_and_listed_for_admins(shop: Shop) -> None:
    body = _report(shop)
    with shop.kiosk() as c:
        first = c.post("/api/kiosk/rejected-sales", json=body)
        again = c.post("/api/kiosk/rejected-sales", json=body)
    assert first.status_code == 201, first.text
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert _stored(shop.db_url, body["idempotency_key"]) == 1

    with shop.admin() as c:
        listed = c.get("/api/admin/rejected-sales").json()
    mine = [r for r in listed if r["idempotency_key"] == body["idempotency_key"]]
    assert len(mine) == 1
    assert mine[0]["items"] == body["items"]
    assert mine[0]["kiosk_name"] == "test kiosk"
    assert mine[0]["refused_status"] == 422
    assert mine[0]["resolved_at"] is None


def test_resolving_a_refused_sale_takes_it_off_the_open_list(shop: Shop) -> None:
    body = _report(shop)
    with shop.kiosk() as c:
        sale_id = c.post("/api/kiosk/rejected-sales", json=body).json()["id"]
    with shop.admin() as c:
        done = c.post(f"/api/admin/rejected-sales/{sale_id}/resolve")
        assert done.status_code == 200
        assert done.json()["resolved_at"] is not None
        open_ids = [r["id"] for r in c.get("/api/admin/rejected-sales").json()]
        all_ids = [r["id"] for r in c.get("/api/admin/rejected-sales?include_resolved=true").json()]
        missing = c.post("/api/admin/rejected-sales/999999999/resolve")
    assert sale_id not in open_ids and sale_id in all_ids
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_only_a_kiosk_reports_and_only_an_admin_lists(shop: Shop) -> None:
    with shop.admin() as c:
        assert c.post("/api/kiosk/rejected-sales", json=_report(shop)).status_code == 403
    with shop.kiosk() as c:
        assert c.get("/api/admin/rejected-sales").status_code == 403
    with shop.server.client() as c:
        assert c.post("/api/kiosk/rejected-sales", json=_report(shop)).status_code == 401


def test_bad_reports_are_problems_and_store_nothing(shop: Shop) -> None:
    bad = [
        {"refused_status": 201},
        {"refused_status": 500},
        {"items": []},
        {"total_cents": -1},
        {"sold_at": "2026-12-01T10:15:00"},  # naive: which time zone?
        {"sold_at": "yesterday"},
        {"refused_detail": "nul \x00 inside"},
        {"idempotency_key": "  "},
        {"items": [{"product_id": 1, "quantity": 0, "name": "x", "unit_price_cents": 1}]},
        {"items": [{"product_id": 1, "quantity": 1, "name": "\ud800", "unit_price_cents": 1}]},
    ]
    with shop.kiosk() as c:
        for override in bad:
            body = _report(shop, **override)
            # json.dumps escapes a lone surrogate as \ud800, as a broken client would send it
            resp = c.post(
                "/api/kiosk/rejected-sales",
                content=json.dumps(body),
                headers={"content-type": "application/json"},
            )
            assert resp.status_code == 422, (override, resp.text)
            assert resp.headers["content-type"] == "application/problem+json"
            if override.get("idempotency_key") is None:
                assert _stored(shop.db_url, body["idempotency_key"]) == 0
