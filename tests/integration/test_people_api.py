"""/api/admin/admins and /api/admin/kiosks, and who appears in ledger history (SPEC 7.3)."""

from __future__ import annotations

import uuid

import httpx

from tests.fixtures.db import fingerprint
from tests.fixtures.server import Shop


def _email() -> str:
    return f"staff-{uuid.uuid4().hex[:8]}@shop.example.com"


def _login(shop: Shop, email: str, password: str) -> httpx.Response:
    with shop.server.client() as c:
        return c.post("/api/auth/login", json={"email": email, "password": password})


def _me(shop: Shop, token: str) -> int:
    with shop.server.client(token) as c:
        return c.get("/api/auth/me").status_code


def test_an_admin_created_through_the_api_can_log_in_and_is_listed(shop: Shop) -> None:
    email = _email()
    with shop.admin() as c:
        made = c.post("/api/admin/admins", json={"email": email, "password": "long enough 1"})
        listed = c.get("/api/admin/admins").json()
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["email"], body["disabled"]) == (email, False)
    assert set(body) == {"id", "email", "created_at", "disabled"}
    assert body in listed
    assert _login(shop, email, "long enough 1").status_code == 200


def test_disabling_an_admin_ends_their_sessions_at_once_and_enabling_restores_login(
    shop: Shop,
) -> None:
    email = _email()
    with shop.admin() as c:
        target = c.post("/api/admin/admins", json={"email": email, "password": "pw of staff"})
        token = _login(shop, email, "pw of staff").json()["access_token"]
        assert _me(shop, token) == 200
        off = c.patch(f"/api/admin/admins/{target.json()['id']}", json={"disabled": True})
        assert off.status_code == 200 and off.json()["disabled"] is True
        assert _me(shop, token) == 401
        assert _login(shop, email, "pw of staff").status_code == 401
        on = c.patch(f"/api/admin/admins/{target.json()['id']}", json={"disabled": False})
    assert on.json()["disabled"] is False
    assert _me(shop, token) == 401  # the old session stays ended
    assert _login(shop, email, "pw of staff").status_code == 200


def test_a_password_reset_ends_sessions_and_only_the_new_password_works(shop: Shop) -> None:
    email = _email()
    with shop.admin() as c:
        target = c.post("/api/admin/admins", json={"email": email, "password": "old password"})
        token = _login(shop, email, "old password").json()["access_token"]
        reset = c.patch(
            f"/api/admin/admins/{target.json()['id']}", json={"password": "new password"}
        )
    assert reset.status_code == 200
    assert "password" not in reset.text
    assert _me(shop, token) == 401
    assert _login(shop, email, "old password").status_code == 401
    assert _login(shop, email, "new password").status_code == 200


def test_an_admin_cannot_disable_themselves_and_emails_are_unique(shop: Shop) -> None:
    with shop.admin() as c:
        me = c.get("/api/auth/me").json()
        before = fingerprint(shop.db_url)
        self_off = c.patch(f"/api/admin/admins/{me['id']}", json={"disabled": True})
        again = c.post(
            "/api/admin/admins",
            json={"email": shop.admin_email.upper(), "password": "whatever long"},
        )
    assert self_off.status_code == 409
    assert again.status_code == 409
    assert fingerprint(shop.db_url) == before
    assert _me(shop, shop.admin_token) == 200


def test_a_kiosk_token_is_shown_once_works_and_gets_401_as_soon_as_it_is_revoked(
    shop: Shop,
) -> None:
    with shop.admin() as c:
        made = c.post("/api/admin/kiosks", json={"name": "Till 7"})
        assert made.status_code == 201, made.text
        kiosk = made.json()
        listed = c.get("/api/admin/kiosks").json()
        assert _me(shop, kiosk["token"]) == 200
        with shop.server.client(kiosk["token"]) as k:
            assert k.get("/api/products").status_code == 200
        revoked = c.patch(f"/api/admin/kiosks/{kiosk['id']}", json={"disabled": True})
        with shop.server.client(kiosk["token"]) as k:
            after = k.get("/api/products").status_code
        renamed = c.patch(f"/api/admin/kiosks/{kiosk['id']}", json={"name": "Till 7 (old)"})
    assert kiosk["name"] == "Till 7" and kiosk["token"].startswith("kiosk_")
    assert [k for k in listed if k["id"] == kiosk["id"]] == [
        {key: kiosk[key] for key in ("id", "name", "created_at", "disabled")}
    ]
    assert all("token" not in k for k in listed)
    assert revoked.status_code == 200 and revoked.json()["disabled"] is True
    assert after == 401
    assert renamed.json()["name"] == "Till 7 (old)" and "token" not in renamed.json()


def test_people_endpoints_refuse_bad_input_kiosks_and_strangers_and_change_nothing(
    shop: Shop,
) -> None:
    before = fingerprint(shop.db_url)
    with shop.admin() as c:
        statuses = {
            "bad email": c.post(
                "/api/admin/admins", json={"email": "not-an-email", "password": "long enough"}
            ).status_code,
            "short password": c.post(
                "/api/admin/admins", json={"email": _email(), "password": "short"}
            ).status_code,
            "missing password": c.post("/api/admin/admins", json={"email": _email()}).status_code,
            "unknown admin": c.patch(
                f"/api/admin/admins/{2**62}", json={"disabled": True}
            ).status_code,
            "reset too short": c.patch(
                f"/api/admin/admins/{2**62}", json={"password": "x"}
            ).status_code,
            "disabled not bool": c.patch(
                f"/api/admin/kiosks/{2**62}", json={"disabled": "yes"}
            ).status_code,
            "unknown kiosk": c.patch(
                f"/api/admin/kiosks/{2**62}", json={"disabled": True}
            ).status_code,
            "empty kiosk name": c.post("/api/admin/kiosks", json={"name": " "}).status_code,
            "long kiosk name": c.post("/api/admin/kiosks", json={"name": "k" * 201}).status_code,
        }
    with shop.kiosk() as k:
        statuses["kiosk lists admins"] = k.get("/api/admin/admins").status_code
        statuses["kiosk makes kiosk"] = k.post(
            "/api/admin/kiosks", json={"name": "rogue"}
        ).status_code
    with shop.server.client() as anon:
        statuses["stranger"] = anon.get("/api/admin/kiosks").status_code
    assert statuses == {
        "bad email": 422,
        "short password": 422,
        "missing password": 422,
        "unknown admin": 404,
        "reset too short": 422,
        "disabled not bool": 422,
        "unknown kiosk": 404,
        "empty kiosk name": 422,
        "long kiosk name": 422,
        "kiosk lists admins": 403,
        "kiosk makes kiosk": 403,
        "stranger": 401,
    }
    assert fingerprint(shop.db_url) == before


def test_ledger_history_shows_who_and_the_running_balance_across_pages(shop: Shop) -> None:
    p = shop.create_product(stock=5)
    with shop.kiosk() as k:
        k.post("/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 2}]})
    with shop.admin() as c:
        c.post(f"/api/inventory/{p['id']}/adjustments", json={"delta": 3, "reason": "delivery"})
        c.post(f"/api/inventory/{p['id']}/adjustments", json={"delta": -1, "reason": "broken"})
        first = c.get(f"/api/inventory/{p['id']}/ledger", params={"limit": 2}).json()
        rest = c.get(
            f"/api/inventory/{p['id']}/ledger",
            params={"limit": 2, "before_id": first["next_before_id"]},
        ).json()
    rows = [(e["source"], e["actor_kind"], e["actor"], e["balance_after"]) for e in first["items"]]
    rows += [(e["source"], e["actor_kind"], e["actor"], e["balance_after"]) for e in rest["items"]]
    assert rows == [
        ("manual_adjustment", "admin", shop.admin_email, 5),
        ("manual_adjustment", "admin", shop.admin_email, 6),
        ("purchase", "kiosk", "test kiosk", 3),
        ("system", "admin", shop.admin_email, 5),
    ]
