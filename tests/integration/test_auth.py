"""Who may do what: admins, kiosks, cookies with CSRF, login throttling, no secrets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from tests.fixtures.db import fingerprint
from tests.fixtures.server import Shop, make_admin


def test_requests_without_credentials_are_401(shop: Shop) -> None:
    for method, path in [
        ("GET", "/api/products"),
        ("GET", "/api/inventory"),
        ("POST", "/api/purchases"),
        ("GET", "/api/admin/config"),
    ]:
        resp = httpx.request(method, shop.server.url + path, json={})
        assert resp.status_code == 401, path
        assert resp.headers["content-type"] == "application/problem+json"


def test_kiosk_may_read_and_buy_but_nothing_else(shop: Shop) -> None:
    p = shop.create_product(stock=3)
    with shop.kiosk() as c:
        assert c.get("/api/products").status_code == 200
        assert c.get(f"/api/inventory/{p['id']}/ledger").status_code == 200
        assert (
            c.post(
                "/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 1}]}
            ).status_code
            == 201
        )
        before = fingerprint(shop.db_url)
        for method, path, body in [
            ("POST", "/api/products", {"sku": "K", "name": "k", "price_cents": 1}),
            ("PATCH", f"/api/products/{p['id']}", {"name": "k"}),
            ("POST", f"/api/inventory/{p['id']}/adjustments", {"delta": 1, "reason": "k"}),
            (
                "POST",
                f"/api/inventory/{p['id']}/reconciliations",
                {"counted_quantity": 1, "reason": "k"},
            ),
            ("PUT", f"/api/inventory/{p['id']}/tracking", {"enabled": False}),
            ("GET", "/api/admin/config", None),
            ("PUT", "/api/admin/config", {"inventory_tracking_enabled": False}),
            ("GET", "/api/inventory/ledger.csv", None),
        ]:
            resp = c.request(method, path, json=body)
            assert resp.status_code == 403, (path, resp.text)
        assert fingerprint(shop.db_url) == before


def test_invalid_token_is_401(shop: Shop) -> None:
    with shop.server.client("adm_not-a-real-token") as c:
        assert c.get("/api/products").status_code == 401
    with shop.server.client("kiosk_not-a-real-token") as c:
        assert c.get("/api/products").status_code == 401


def test_login_sets_httponly_samesite_cookie_and_bearer_token(shop: Shop) -> None:
    resp = httpx.post(
        shop.server.url + "/api/auth/login",
        json={"email": shop.admin_email, "password": shop.admin_password},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    cookies = resp.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("stockline_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session


def test_cookie_write_needs_the_csrf_token(shop: Shop) -> None:
    p = shop.create_product(stock=3)
    with httpx.Client(base_url=shop.server.url) as browser:
        login = browser.post(
            "/api/auth/login", json={"email": shop.admin_email, "password": shop.admin_password}
        )
        csrf = login.json()["csrf_token"]
        assert browser.get("/api/admin/config").status_code == 200  # reads need no token
        path = f"/api/inventory/{p['id']}/adjustments"
        denied = browser.post(path, json={"delta": 1, "reason": "csrf?"})
        assert denied.status_code == 403
        wrong = browser.post(
            path, json={"delta": 1, "reason": "csrf?"}, headers={"X-CSRF-Token": "guess"}
        )
        assert wrong.status_code == 403
        ok = browser.post(
            path, json={"delta": 1, "reason": "csrf ok"}, headers={"X-CSRF-Token": csrf}
        )
        assert ok.status_code == 201


def test_logout_ends_the_session(shop: Shop) -> None:
    resp = httpx.post(
        shop.server.url + "/api/auth/login",
        json={"email": shop.admin_email, "password": shop.admin_password},
    )
    token = resp.json()["access_token"]
    with shop.server.client(token) as c:
        assert c.post("/api/auth/logout").status_code == 204
        assert c.get("/api/products").status_code == 401


def test_wrong_password_is_401_without_saying_which_part(shop: Shop) -> None:
    wrong_pw = httpx.post(
        shop.server.url + "/api/auth/login",
        json={"email": shop.admin_email, "password": "nope nope"},
    )
    no_user = httpx.post(
        shop.server.url + "/api/auth/login",
        json={"email": "nobody@shop.example.com", "password": "nope nope"},
    )
    assert wrong_pw.status_code == no_user.status_code == 401
    assert wrong_pw.json()["detail"] == no_user.json()["detail"]


def test_repeated_failed_logins_are_throttled_per_address(
    fresh_db: str, server_factory: Callable[..., Any]
) -> None:
    server = server_factory(fresh_db, env={"STOCKLINE_LOGIN_MAX_FAILURES": "3"})
    email, password = make_admin(fresh_db)
    for _ in range(3):
        resp = httpx.post(
            server.url + "/api/auth/login", json={"email": email, "password": "wrong password"}
        )
        assert resp.status_code == 401
    blocked = httpx.post(
        server.url + "/api/auth/login", json={"email": email, "password": password}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


def test_no_password_token_or_hash_in_logs_or_database_tokens(shop: Shop) -> None:
    with psycopg.connect(shop.db_url) as conn:
        stored = conn.execute(
            "SELECT password_hash FROM admins WHERE email = %s", (shop.admin_email,)
        ).fetchone()
        kiosk_hashes = [bytes(r[0]) for r in conn.execute("SELECT token_hash FROM kiosks")]
    assert stored is not None and stored[0].startswith("$argon2id$")
    assert shop.kiosk_token.encode() not in kiosk_hashes
    log = shop.server.log_text()
    for secret in (shop.admin_password, shop.kiosk_token, shop.admin_token, stored[0]):
        assert secret not in log
