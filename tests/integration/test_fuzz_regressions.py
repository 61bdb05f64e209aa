"""What the schemathesis run (tests/e2e/test_fuzz_api.py) found, kept as explicit examples."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.fixtures.server import Shop

PROBLEM = "application/problem+json"


def _openapi(shop: Shop) -> dict[str, Any]:
    resp = httpx.get(shop.server.url + "/openapi.json")
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


def test_ledger_csv_export_streams_every_row(shop: Shop) -> None:
    # Found: the export's server-side cursor ran outside a transaction on the autocommit
    # pool, so every download broke off after the headers (a 500 hidden in a 200).
    p = shop.create_product(stock=5)
    with shop.admin() as c:
        assert c.post(f"/api/inventory/{p['id']}/adjustments", json={"delta": 2, "reason": "r"})
        resp = c.get("/api/inventory/ledger.csv", params={"product_id": p["id"]})
        whole = c.get("/api/inventory/ledger.csv")
    assert resp.status_code == 200 and whole.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert [(r["delta"], r["source"]) for r in rows] == [
        ("5", "system"),
        ("2", "manual_adjustment"),
    ]
    assert len(list(csv.DictReader(io.StringIO(whole.text)))) >= 2
    assert '"unhandled_error"' not in shop.server.log_text()


def test_openapi_declares_problem_json_errors_on_every_api_operation(shop: Shop) -> None:
    # Found: 401/403/404/413/429/503 answers were undocumented and the documented 422 was
    # declared as FastAPI's application/json HTTPValidationError, not what is sent.
    doc = _openapi(shop)
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"title", "status"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in operations.items():
            codes = set(op["responses"])
            expected = {"400", "401", "422", "503"}
            if method in ("post", "put", "patch"):
                expected |= {"413"}
            if path != "/api/auth/login":
                expected |= {"403", "404"}
                if method in ("post", "put", "patch"):
                    expected |= {"409"}
            assert expected <= codes, (method, path, codes)
            for code in codes:
                if code.startswith(("4", "5")):
                    content = op["responses"][code]["content"]
                    assert list(content) == [PROBLEM], (method, path, code)
                    ref = content[PROBLEM]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Problem"
    login = doc["paths"]["/api/auth/login"]["post"]["responses"]
    assert "Retry-After" in login["429"]["headers"]


def test_wrong_login_is_a_documented_401_problem(shop: Shop) -> None:
    # Found: a wrong password's 401 was not in the login operation's responses.
    resp = httpx.post(shop.server.url + "/api/auth/login", json={"email": "0", "password": "0"})
    assert resp.status_code == 401
    assert resp.headers["content-type"] == PROBLEM
    doc = _openapi(shop)
    assert "401" in doc["paths"]["/api/auth/login"]["post"]["responses"]


def test_kiosk_on_admin_route_is_a_documented_403_problem(shop: Shop) -> None:
    with shop.kiosk() as c:
        resp = c.get("/api/admin/notifications/stats")
    assert resp.status_code == 403 and resp.headers["content-type"] == PROBLEM
    body = resp.json()
    assert body["status"] == 403 and body["title"] == "Forbidden"
    assert "403" in _openapi(shop)["paths"]["/api/admin/notifications/stats"]["get"]["responses"]


def test_me_and_metrics_declare_what_they_send(shop: Shop) -> None:
    # Found: /api/auth/me had no response schema and /metrics claimed application/json.
    doc = _openapi(shop)
    me = doc["paths"]["/api/auth/me"]["get"]["responses"]["200"]["content"]["application/json"]
    assert me["schema"]["$ref"] == "#/components/schemas/MeOut"
    metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    with shop.kiosk() as c:
        assert set(c.get("/api/auth/me").json()) == {"kind", "id", "name"}
    resp = httpx.get(shop.server.url + "/metrics")
    assert resp.headers["content-type"].startswith("text/plain")


def test_recipient_errors_match_the_problem_schema(shop: Shop) -> None:
    # The domain's own validation errors (no pydantic `type`) still fit the Problem schema.
    with shop.admin() as c:
        resp = c.put("/api/admin/config", json={"notification_recipients": ["not an address"]})
    assert resp.status_code == 422 and resp.headers["content-type"] == PROBLEM
    item = resp.json()["errors"][0]
    assert item["loc"] == ["notification_recipients", 0] and item["msg"]


def test_whole_numbers_written_as_floats_are_integers(shop: Shop) -> None:
    # Found: JSON Schema's "integer" admits 2250.0, but the strict models refused it (422).
    p = shop.create_product(stock=3)
    with shop.admin() as c:
        patched = c.patch(f"/api/products/{p['id']}", json={"price_cents": 250.0})
        adjusted = c.post(
            f"/api/inventory/{p['id']}/adjustments", json={"delta": 2.0, "reason": "float"}
        )
        counted = c.post(
            f"/api/inventory/{p['id']}/reconciliations",
            json={"counted_quantity": 4.0, "reason": "float"},
        )
        bought = c.post(
            "/api/purchases", json={"items": [{"product_id": float(p["id"]), "quantity": 1.0}]}
        )
        # fractions, numeric strings and booleans stay errors
        for bad in (2.5, "2", True):
            resp = c.post(
                f"/api/inventory/{p['id']}/adjustments", json={"delta": bad, "reason": "no"}
            )
            assert resp.status_code == 422, bad
    assert patched.status_code == 200 and patched.json()["price_cents"] == 250
    assert adjusted.status_code == 201 and adjusted.json()["entry"]["delta"] == 2
    assert counted.status_code == 201 and counted.json()["snapshot"]["current_stock"] == 4
    assert bought.status_code == 201, bought.text
    assert bought.json()["items"][0]["quantity"] == 1


def test_the_schema_states_the_rules_the_server_enforces(shop: Shop) -> None:
    # Found: "delta must not be 0" and "Idempotency-Key must not be blank" were enforced
    # (422) but absent from the schema, so schema-valid requests were refused.
    doc = _openapi(shop)
    delta = doc["components"]["schemas"]["AdjustmentIn"]["properties"]["delta"]
    assert delta["not"] == {"const": 0}
    assert delta["minimum"] == -1_000_000_000 and delta["maximum"] == 1_000_000_000
    params = doc["paths"]["/api/purchases"]["post"]["parameters"]
    key = next(p for p in params if p["name"].lower() == "idempotency-key")
    key_schema = next(s for s in key["schema"]["anyOf"] if s.get("type") == "string")
    assert key_schema["pattern"] == r"\S" and key_schema["minLength"] == 1
    recipients = doc["components"]["schemas"]["ConfigIn"]["properties"]["notification_recipients"]
    # left out keeps the list; null is refused, so the schema offers no null (anyOf) here
    assert recipients["type"] == "array"
    items = recipients["items"]
    assert items["format"] == "email"
    p = shop.create_product(stock=1)
    with shop.kiosk() as c:
        resp = c.post(
            "/api/purchases",
            json={"items": [{"product_id": p["id"], "quantity": 1}]},
            headers={"Idempotency-Key": ""},
        )
    assert resp.status_code == 422 and resp.headers["content-type"] == PROBLEM


def test_openapi_declares_who_may_call_what(shop: Shop) -> None:
    # Found: no security schemes, so a client generator (or a fuzzer) could not know
    # that every /api operation but login and kiosk pairing needs credentials.
    doc = _openapi(shop)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["sessionCookie"]["name"] == "stockline_session"
    assert schemes["kioskCookie"]["name"] == "stockline_kiosk"
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            public = not path.startswith("/api/") or path in (
                "/api/auth/login",
                "/api/auth/kiosk",
            )
            assert ("security" in op) is not public, (method, path)
            # and it means it: without credentials, 401
            if not public and "{" not in path and method == "get":
                assert httpx.get(shop.server.url + path).status_code == 401, path


def test_alert_setting_and_snooze_refusals_name_their_field_with_a_type(shop: Shop) -> None:
    # Found: the digest's and webhooks' 422 errors carried no `type` (clients and the fuzz
    # check read it), and their details had no stable prefix to say which rule refused.
    p = shop.create_product(stock=5, threshold=1)
    with shop.admin() as c:
        digest = c.put(
            "/api/admin/config",
            json={"notification_digest": {"enabled": True, "times": ["25:00"], "timezone": "UTC"}},
        )
        hooks = c.put(
            "/api/admin/config", json={"notification_webhooks": [{"url": "ftp://x.example/"}]}
        )
        snooze = c.post(f"/api/inventory/{p['id']}/snooze", json={})
    for resp, prefix in (
        (digest, "notification_digest: "),
        (hooks, "notification_webhooks: "),
        (snooze, "snooze: "),
    ):
        assert resp.status_code == 422 and resp.headers["content-type"] == PROBLEM
        body = resp.json()
        assert body["detail"].startswith(prefix), body
        assert all("type" in e and e["loc"] for e in body.get("errors", [])), body
