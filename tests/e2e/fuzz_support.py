"""The target both fuzz runs share: a real `serve --workers 2` with an admin, a kiosk and
a few products, on the test module's own database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fixtures.server import login, make_admin, make_kiosk, start_server


@contextmanager
def fuzz_server(db_url: str, *, products: int, prefix: str) -> Iterator[dict[str, Any]]:
    server = start_server(db_url, workers=2, env={"STOCKLINE_LOGIN_MAX_FAILURES": "1000"})
    try:
        email, password = make_admin(db_url)
        admin_token = login(server, email, password)
        kiosk_token = make_kiosk(db_url)
        ids = []
        with server.client(admin_token) as c:
            for i in range(products):
                resp = c.post(
                    "/api/products",
                    json={
                        "sku": f"{prefix}-{i}-{uuid.uuid4().hex[:6]}",
                        "name": f"{prefix.lower()} product {i}",
                        "price_cents": 100 + i,
                        "low_stock_threshold": 3,
                        "initial_stock": 10,
                    },
                )
                assert resp.status_code == 201, resp.text
                ids.append(resp.json()["id"])
        yield {
            "ids": ids,
            "server": server,
            "email": email,
            "password": password,
            "admin": admin_token,
            "kiosk": kiosk_token,
        }
    finally:
        server.stop()
