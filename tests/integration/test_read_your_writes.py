"""A 2xx means committed: the very next request sees the write (no commit after the answer)."""

from __future__ import annotations

import httpx

from tests.fixtures.server import Shop


def test_a_write_is_visible_to_the_next_request_right_after_its_answer(shop: Shop) -> None:
    p = shop.create_product(stock=0)
    with httpx.Client(base_url=shop.server.url, timeout=30) as c:
        for i in range(40):
            resp = c.post(
                "/api/auth/login", json={"email": shop.admin_email, "password": shop.admin_password}
            )
            assert resp.status_code == 200
            assert c.get("/api/auth/me").status_code == 200, f"session not visible on round {i}"
            csrf = {"X-CSRF-Token": resp.json()["csrf_token"]}
            moved = c.post(
                f"/api/inventory/{p['id']}/adjustments",
                json={"delta": 1, "reason": f"r{i}"},
                headers=csrf,
            )
            assert moved.status_code == 201
            page = c.get(f"/api/inventory/{p['id']}/ledger", params={"limit": 1}).json()
            assert page["items"][0]["reason"] == f"r{i}", f"adjustment not visible on round {i}"
