"""Bad input gets a clear 4xx problem+json and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.db import fingerprint
from tests.fixtures.server import Shop

BIG = 2**70


@pytest.fixture(scope="module")
def product(shop: Shop) -> dict[str, Any]:
    return shop.create_product(stock=10, threshold=2)


def _cases(pid: int) -> list[tuple[str, str, Any]]:
    return [
        # products
        ("POST", "/api/products", {"sku": "", "name": "x", "price_cents": 1}),
        ("POST", "/api/products", {"sku": "A", "name": "x", "price_cents": -1}),
        ("POST", "/api/products", {"sku": "A", "name": "x", "price_cents": BIG}),
        ("POST", "/api/products", {"sku": "A", "name": "x", "price_cents": "12"}),
        (
            "POST",
            "/api/products",
            {"sku": "A", "name": "x", "price_cents": 1, "low_stock_threshold": -1},
        ),
        (
            "POST",
            "/api/products",
            {"sku": "A", "name": "x", "price_cents": 1, "initial_stock": BIG},
        ),
        ("POST", "/api/products", {"name": "x", "price_cents": 1}),
        ("POST", "/api/products", ["not", "an", "object"]),
        ("PATCH", f"/api/products/{pid}", {"price_cents": BIG}),
        ("PATCH", f"/api/products/{pid}", {"low_stock_threshold": "five"}),
        ("PATCH", f"/api/products/{pid}", {"active": "yes"}),
        ("PATCH", "/api/products/999999999", {"name": "ghost"}),
        ("PATCH", f"/api/products/{BIG}", {"name": "ghost"}),
        # purchases
        ("POST", "/api/purchases", {"items": []}),
        ("POST", "/api/purchases", {"items": [{"product_id": pid, "quantity": 0}]}),
        ("POST", "/api/purchases", {"items": [{"product_id": pid, "quantity": -3}]}),
        ("POST", "/api/purchases", {"items": [{"product_id": pid, "quantity": BIG}]}),
        ("POST", "/api/purchases", {"items": [{"product_id": pid, "quantity": 1.5}]}),
        ("POST", "/api/purchases", {"items": [{"product_id": BIG, "quantity": 1}]}),
        ("POST", "/api/purchases", {"items": [{"product_id": 999999999, "quantity": 1}]}),
        (
            "POST",
            "/api/purchases",
            {
                "items": [
                    {"product_id": pid, "quantity": 1},
                    {"product_id": 999999998, "quantity": 1},
                ]
            },
        ),
        ("POST", "/api/purchases", {"items": "everything"}),
        # adjustments, reconciliations, tracking
        ("POST", f"/api/inventory/{pid}/adjustments", {"delta": 0, "reason": "none"}),
        ("POST", f"/api/inventory/{pid}/adjustments", {"delta": BIG, "reason": "x"}),
        ("POST", f"/api/inventory/{pid}/adjustments", {"delta": 5}),
        ("POST", f"/api/inventory/{pid}/adjustments", {"delta": 5, "reason": ""}),
        ("POST", "/api/inventory/999999999/adjustments", {"delta": 5, "reason": "x"}),
        ("POST", f"/api/inventory/{pid}/reconciliations", {"counted_quantity": -1, "reason": "x"}),
        ("POST", f"/api/inventory/{pid}/reconciliations", {"counted_quantity": BIG, "reason": "x"}),
        (
            "POST",
            "/api/inventory/999999999/reconciliations",
            {"counted_quantity": 1, "reason": "x"},
        ),
        ("PUT", f"/api/inventory/{pid}/tracking", {"enabled": "off"}),
        ("PUT", "/api/inventory/999999999/tracking", {"enabled": False}),
        # configuration
        (
            "PUT",
            "/api/admin/config",
            {"notification_recipients": ["ok@shop.example.com", "not an address"]},
        ),
        ("PUT", "/api/admin/config", {"notification_recipients": "ops@shop.example.com"}),
        ("PUT", "/api/admin/config", {"inventory_tracking_enabled": "false"}),
    ]


def test_every_bad_write_is_4xx_problem_and_changes_nothing(
    shop: Shop, product: dict[str, Any]
) -> None:
    before = fingerprint(shop.db_url)
    with shop.admin() as admin:
        for method, path, body in _cases(product["id"]):
            client = admin
            resp = client.request(method, path, json=body)
            assert 400 <= resp.status_code < 500, (method, path, body, resp.text)
            assert resp.headers["content-type"] == "application/problem+json", resp.text
            problem = resp.json()
            assert problem["status"] == resp.status_code and problem["title"]
            assert "Traceback" not in resp.text
    assert fingerprint(shop.db_url) == before


def test_malformed_json_is_400(shop: Shop, product: dict[str, Any]) -> None:
    before = fingerprint(shop.db_url)
    with shop.kiosk() as c:
        resp = c.post(
            "/api/purchases", content=b'{"items": [', headers={"content-type": "application/json"}
        )
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    assert fingerprint(shop.db_url) == before


def test_body_over_one_mib_is_413(shop: Shop) -> None:
    before = fingerprint(shop.db_url)
    blob = b'{"items": [' + b" " * (1024 * 1024 + 10) + b"]}"
    with shop.kiosk() as c:
        resp = c.post("/api/purchases", content=blob, headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert resp.headers["content-type"] == "application/problem+json"
    assert fingerprint(shop.db_url) == before


def test_chunked_body_over_one_mib_is_413(shop: Shop) -> None:
    def chunks() -> Any:
        yield b'{"items": ['
        for _ in range(300):
            yield b" " * 4096
        yield b"]}"

    with shop.kiosk() as c:
        resp = c.post(
            "/api/purchases", content=chunks(), headers={"content-type": "application/json"}
        )
    assert resp.status_code == 413


def test_recipient_error_names_the_bad_address(shop: Shop) -> None:
    with shop.admin() as c:
        before = c.get("/api/admin/config").json()["notification_recipients"]
        resp = c.put(
            "/api/admin/config",
            json={"notification_recipients": ["good@shop.example.com", "bad@@shop"]},
        )
        assert resp.status_code == 422
        assert "bad@@shop" in resp.json()["detail"]
        assert [e["input"] for e in resp.json()["errors"]] == ["bad@@shop"]
        assert c.get("/api/admin/config").json()["notification_recipients"] == before


def test_unknown_route_and_method_are_problems(shop: Shop) -> None:
    with shop.admin() as c:
        r404 = c.get("/api/nothing-here")
        r405 = c.delete("/api/products")
    assert r404.status_code == 404 and r405.status_code == 405
    assert (
        r404.headers["content-type"] == r405.headers["content-type"] == ("application/problem+json")
    )


def test_a_405_allows_every_method_its_path_serves(shop: Shop) -> None:
    p = shop.create_product()
    with shop.admin() as c:
        answers = {
            "DELETE /api/products": c.delete("/api/products"),
            "PUT /api/products/{id}": c.put(f"/api/products/{p['id']}", json={}),
            "GET /api/purchases": c.get("/api/purchases"),
            "HEAD /api/purchases": c.head("/api/purchases"),
            "HEAD /api/inventory/events": c.head("/api/inventory/events"),
        }
    assert {k: (r.status_code, r.headers.get("allow")) for k, r in answers.items()} == {
        "DELETE /api/products": (405, "GET, HEAD, POST"),
        "PUT /api/products/{id}": (405, "GET, HEAD, PATCH"),
        "GET /api/purchases": (405, "POST"),
        "HEAD /api/purchases": (405, "POST"),
        # the stream never ends, so it has no HEAD
        "HEAD /api/inventory/events": (405, "GET"),
    }


def test_head_answers_like_get_without_a_body(shop: Shop) -> None:
    p = shop.create_product()
    with shop.admin() as c:
        for path in ("/healthz", "/api/products", f"/api/products/{p['id']}", "/admin"):
            got, head = c.get(path), c.head(path)
            assert (head.status_code, head.content) == (got.status_code, b""), path
            assert head.headers["content-type"] == got.headers["content-type"], path
            assert head.headers["content-length"] == str(len(got.content)), path
        missing = c.head("/api/products/999999999")
    assert missing.status_code == 404 and missing.content == b""
    with shop.kiosk() as k:
        assert k.head("/api/admin/config").status_code == 403


def test_duplicate_sku_is_409(shop: Shop) -> None:
    p = shop.create_product()
    with shop.admin() as c:
        resp = c.post("/api/products", json={"sku": p["sku"], "name": "again", "price_cents": 1})
    assert resp.status_code == 409


def test_unknown_product_reads_are_404(shop: Shop) -> None:
    with shop.kiosk() as c:
        for path in (
            "/api/products/999999999",
            "/api/inventory/999999999",
            "/api/inventory/999999999/ledger",
        ):
            resp = c.get(path)
            assert resp.status_code == 404, path
            assert resp.headers["content-type"] == "application/problem+json"
        assert c.get("/api/products/abc").status_code == 422
        assert c.get("/api/inventory/1/ledger?limit=100000").status_code == 422


def test_unauthenticated_client_sees_no_traceback_on_garbage(shop: Shop) -> None:
    resp = httpx.post(
        shop.server.url + "/api/purchases",
        content=b"\xff\xfe",
        headers={"content-type": "application/json"},
    )
    assert resp.status_code in (400, 401, 422)
    assert "Traceback" not in resp.text
