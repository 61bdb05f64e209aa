"""SPEC 7.1 on the way out: ledger.csv cannot carry a spreadsheet formula, and no cache
may keep an /api answer (Cache-Control: no-store on every one, errors included)."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.fixtures.server import Shop


def test_ledger_csv_neutralises_skus_and_reasons_that_start_a_formula(shop: Shop) -> None:
    p = shop.create_product(stock=5, sku='=HYPERLINK("http://evil.example","x")')
    with shop.admin() as admin:
        for delta, reason in ((1, "+SUM(A1:A9)"), (-1, "-2+3"), (2, "@cmd"), (3, "plain")):
            resp = admin.post(
                f"/api/inventory/{p['id']}/adjustments", json={"delta": delta, "reason": reason}
            )
            assert resp.status_code == 201, resp.text
        export = admin.get("/api/inventory/ledger.csv", params={"product_id": p["id"]})
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {r["sku"] for r in rows} == {'\'=HYPERLINK("http://evil.example","x")'}
    reasons = [r["reason"] for r in rows]
    assert reasons == ["initial stock", "'+SUM(A1:A9)", "'-2+3", "'@cmd", "plain"]
    assert [r["delta"] for r in rows] == ["5", "1", "-1", "2", "3"]  # numbers stay numbers


def _get_paths(shop: Shop) -> list[str]:
    doc: dict[str, Any] = httpx.get(shop.server.url + "/openapi.json").json()
    return [
        path
        for path, ops in doc["paths"].items()
        if path.startswith("/api/")
        and "get" in ops
        and "{" not in path
        and path != "/api/inventory/events"
    ]


def test_every_authenticated_api_answer_says_no_store(shop: Shop) -> None:
    p = shop.create_product(stock=1)
    answers: list[tuple[str, httpx.Response]] = []
    with shop.admin() as admin, shop.kiosk() as kiosk:
        for path in _get_paths(shop):
            answers.append((path, admin.get(path)))
        answers += [
            ("product", admin.get(f"/api/products/{p['id']}")),
            ("404", admin.get("/api/products/999999999")),
            ("422", admin.get("/api/products/abc")),
            ("403", kiosk.get("/api/admin/config")),
            (
                "409",
                admin.post("/api/products", json={"sku": p["sku"], "name": "x", "price_cents": 1}),
            ),
            ("token", kiosk.post("/api/inventory/events/token")),
            (
                "purchase",
                kiosk.post(
                    "/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 1}]}
                ),
            ),
        ]
        with kiosk.stream("GET", "/api/inventory/events") as stream:
            answers.append(("stream", stream))
    answers.append(("401", httpx.get(shop.server.url + "/api/products")))
    answers.append(
        (
            "login 401",
            httpx.post(
                shop.server.url + "/api/auth/login", json={"email": "a@b.example", "password": "x"}
            ),
        )
    )
    assert len(answers) > 15
    for what, resp in answers:
        assert resp.status_code != 500, what
        assert "no-store" in resp.headers.get("cache-control", ""), (
            what,
            resp.status_code,
            resp.headers,
        )
    statuses = {what: resp.status_code for what, resp in answers}
    assert statuses["token"] == 200 and statuses["stream"] == 200 and statuses["409"] == 409
