"""SPEC §7.1: text PostgreSQL cannot store, numbers JSON cannot carry back and naive/zoned
mixes are 4xx problem+json on a real `serve`: data unchanged, security headers on, the
keep-alive connection still usable, and no submitted secret in the log."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from tests.fixtures.db import fingerprint
from tests.fixtures.server import Shop

PROBLEM = "application/problem+json"
NUL = "\x00"
LONE = "\ud800"
# Python's json reads 1e400 as inf; NaN and Infinity are literals it accepts too
NON_FINITE = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"]


@pytest.fixture(scope="module")
def product(shop: Shop) -> dict[str, Any]:
    return shop.create_product(stock=10, threshold=2)


def _raw_json(body: dict[str, Any], number: str | None = None) -> bytes:
    """JSON as a hostile client writes it: \\u escapes for NUL and lone surrogates, and
    `number` put in verbatim where the body says "@N@"."""
    text = json.dumps(body)  # ensure_ascii: "\\ud800" goes out as an escape, as JSON allows
    if number is not None:
        text = text.replace('"@N@"', number)
    return text.encode()


def _string_cases(pid: int, bad: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("POST", "/api/products", {"sku": f"A{bad}", "name": "x", "price_cents": 1}),
        ("POST", "/api/products", {"sku": "EDGE-1", "name": f"x{bad}", "price_cents": 1}),
        (
            "POST",
            "/api/products",
            {"sku": "EDGE-2", "name": "x", "price_cents": 1, "category": bad},
        ),
        ("PATCH", f"/api/products/{pid}", {"name": f"renamed{bad}"}),
        ("POST", f"/api/inventory/{pid}/adjustments", {"delta": 1, "reason": f"r{bad}"}),
        (
            "POST",
            f"/api/inventory/{pid}/reconciliations",
            {"counted_quantity": 3, "reason": bad},
        ),
        ("PUT", "/api/admin/config", {"notification_recipients": [f"ops{bad}@shop.example"]}),
        ("POST", "/api/auth/login", {"email": f"a{bad}@shop.example", "password": "pw"}),
        ("POST", "/api/auth/login", {"email": "a@shop.example", "password": f"pw{bad}"}),
        ("POST", "/api/auth/kiosk", {"token": f"kiosk_{bad}"}),
    ]


def _number_cases(pid: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("POST", "/api/products", {"sku": "N-1", "name": "x", "price_cents": "@N@"}),
        (
            "POST",
            "/api/products",
            {"sku": "N-2", "name": "x", "price_cents": 1, "initial_stock": "@N@"},
        ),
        (
            "POST",
            "/api/products",
            {"sku": "N-3", "name": "x", "price_cents": 1, "low_stock_threshold": "@N@"},
        ),
        ("PATCH", f"/api/products/{pid}", {"price_cents": "@N@"}),
        ("POST", f"/api/inventory/{pid}/adjustments", {"delta": "@N@", "reason": "r"}),
        (
            "POST",
            f"/api/inventory/{pid}/reconciliations",
            {"counted_quantity": "@N@", "reason": "r"},
        ),
        ("POST", "/api/purchases", {"items": [{"product_id": pid, "quantity": "@N@"}]}),
        ("POST", "/api/purchases", {"items": [{"product_id": "@N@", "quantity": 1}]}),
    ]


def _assert_problem(resp: httpx.Response, what: object) -> None:
    assert 400 <= resp.status_code < 500, (what, resp.status_code, resp.text)
    assert resp.headers["content-type"] == PROBLEM, (what, resp.text)
    body = resp.json()  # parses: encodable UTF-8, no NaN
    assert body["status"] == resp.status_code and body["title"], body
    assert resp.headers["x-content-type-options"] == "nosniff", what
    assert "content-security-policy" in resp.headers, what


@pytest.mark.parametrize("bad", [NUL, LONE], ids=["nul", "lone-surrogate"])
def test_text_postgres_cannot_store_is_a_422_in_every_string_field(
    shop: Shop, product: dict[str, Any], bad: str
) -> None:
    before = fingerprint(shop.db_url)
    with shop.admin() as admin:
        for method, path, body in _string_cases(product["id"], bad):
            resp = admin.request(
                method, path, content=_raw_json(body), headers={"content-type": "application/json"}
            )
            _assert_problem(resp, (method, path, body))
            assert resp.status_code == 422, (path, resp.text)
            # the same keep-alive connection still answers
            assert admin.get("/api/products").status_code == 200
    assert fingerprint(shop.db_url) == before


@pytest.mark.parametrize("number", NON_FINITE)
def test_numbers_json_cannot_carry_back_are_a_422_in_every_numeric_field(
    shop: Shop, product: dict[str, Any], number: str
) -> None:
    before = fingerprint(shop.db_url)
    with shop.admin() as admin:
        for method, path, body in _number_cases(product["id"]):
            resp = admin.request(
                method,
                path,
                content=_raw_json(body, number),
                headers={"content-type": "application/json"},
            )
            _assert_problem(resp, (method, path, number))
            assert resp.status_code == 422, (path, number, resp.text)
            for error in resp.json().get("errors") or []:
                assert error.get("input") is None, error  # nothing non-finite echoed
    assert fingerprint(shop.db_url) == before


@pytest.mark.parametrize(
    "params",
    [
        {"type": NUL},
        {"type": f"threshold{NUL}"},
        {"status": NUL},
        {"limit": NUL},
    ],
)
def test_nul_in_a_query_parameter_is_a_422(shop: Shop, params: dict[str, str]) -> None:
    with shop.admin() as admin:
        resp = admin.get("/api/admin/notifications", params=params)
        _assert_problem(resp, params)
        assert resp.status_code == 422


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"},
        {"from": "2026-01-01T00:00:00+14:00", "to": "2026-01-02T00:00:00"},
        {"from": "0001-01-01T00:00:00+14:00"},
        {"to": "9999-12-31T23:59:59-14:00"},
        {"from": f"2026-01-01{NUL}"},
    ],
)
def test_ledger_csv_refuses_a_naive_and_zoned_mix_and_times_out_of_range(
    shop: Shop, params: dict[str, str]
) -> None:
    with shop.admin() as admin:
        resp = admin.get("/api/inventory/ledger.csv", params=params)
    _assert_problem(resp, params)
    assert resp.status_code == 422


def test_ledger_csv_reads_two_naive_times_as_utc(shop: Shop, product: dict[str, Any]) -> None:
    with shop.admin() as admin:
        naive = admin.get(
            "/api/inventory/ledger.csv",
            params={"from": "2000-01-01T00:00:00", "to": "2999-01-01T00:00:00"},
        )
        zoned = admin.get(
            "/api/inventory/ledger.csv",
            params={"from": "2000-01-01T00:00:00Z", "to": "2999-01-01T00:00:00+00:00"},
        )
    assert naive.status_code == zoned.status_code == 200
    assert naive.text == zoned.text and str(product["sku"]) in naive.text


def test_a_digit_that_is_not_ascii_in_last_event_id_is_a_422(shop: Shop) -> None:
    # "²" is one latin-1 byte; str.isdigit() says yes and int() says no
    with shop.kiosk() as kiosk:
        resp = kiosk.get("/api/inventory/events", headers={"Last-Event-ID": b"\xb2"})  # type: ignore[dict-item]
    _assert_problem(resp, "last-event-id")
    assert resp.status_code == 422


def test_a_login_with_a_lone_surrogate_password_never_reaches_the_log(shop: Shop) -> None:
    secret = "Correct-Horse-" + "Battery" + LONE + "-Staple"
    resp = httpx.post(
        shop.server.url + "/api/auth/login",
        content=_raw_json({"email": shop.admin_email, "password": secret}),
        headers={"content-type": "application/json"},
    )
    _assert_problem(resp, "login")
    assert "Battery" not in resp.text
    log = shop.server.log_text()
    assert "Battery" not in log and "Staple" not in log
    assert '"unhandled_error"' not in log


def test_a_4xx_keeps_the_keep_alive_connection_on_one_socket(
    shop: Shop, product: dict[str, Any]
) -> None:
    body = _raw_json({"delta": "@N@", "reason": "r"}, "1e400")
    bad = (
        f"POST /api/inventory/{product['id']}/adjustments HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: Bearer {shop.admin_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    good = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", shop.server.port), timeout=10) as sock:
        sock.sendall(bad)
        first = _read_response(sock)
        sock.sendall(good)
        second = _read_response(sock)
    assert first.startswith(b"HTTP/1.1 422"), first[:200]
    assert b"connection: close" not in first.lower()
    assert second.startswith(b"HTTP/1.1 200"), second[:200]


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return head + b"\r\n\r\n" + rest


def test_a_413_carries_the_security_headers(shop: Shop) -> None:
    blob = b'{"items": [' + b" " * (1024 * 1024 + 10) + b"]}"
    with shop.kiosk() as kiosk:
        resp = kiosk.post(
            "/api/purchases", content=blob, headers={"content-type": "application/json"}
        )
    assert resp.status_code == 413
    _assert_problem(resp, "413")


def test_null_for_a_field_that_cannot_be_null_is_a_422_and_changes_nothing(
    shop: Shop, product: dict[str, Any]
) -> None:
    with shop.admin() as admin:
        me = admin.get("/api/admin/admins").json()[0]["id"]
        kiosk = admin.get("/api/admin/kiosks").json()[0]["id"]
        cases = [
            *[
                ("PATCH", f"/api/products/{product['id']}", {f: None})
                for f in ("name", "price_cents", "active")
            ],
            *[("PATCH", f"/api/admin/admins/{me}", {f: None}) for f in ("disabled", "password")],
            *[("PATCH", f"/api/admin/kiosks/{kiosk}", {f: None}) for f in ("disabled", "name")],
            *[
                ("PUT", "/api/admin/config", {f: None})
                for f in (
                    "notification_recipients",
                    "inventory_tracking_enabled",
                    "notification_digest",
                    "notification_webhooks",
                )
            ],
        ]
        before = fingerprint(shop.db_url)
        for method, path, body in cases:
            resp = admin.request(method, path, json=body)
            _assert_problem(resp, (method, path, body))
            assert resp.status_code == 422, (path, body, resp.text)
            assert "may not be null" in resp.text, resp.text
        assert fingerprint(shop.db_url) == before
        # where null means "clear", it still does
        cleared = admin.patch(f"/api/products/{product['id']}", json={"category": None})
        assert cleared.status_code == 200, cleared.text


def test_an_unknown_notification_status_is_a_422_and_an_unknown_type_finds_nothing(
    shop: Shop,
) -> None:
    # status is a closed set (SPEC 1's states); type is open (new kinds of notification
    # are added over time), so a well-formed type nobody wrote yet just matches no row
    with shop.admin() as admin:
        resp = admin.get("/api/admin/notifications", params={"status": "bogus"})
        _assert_problem(resp, "status=bogus")
        assert resp.status_code == 422, resp.text
        found = admin.get("/api/admin/notifications", params={"type": "bogus"})
        assert found.status_code == 200, found.text
        assert found.json()["items"] == []
