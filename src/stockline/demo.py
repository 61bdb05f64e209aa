"""`stockline demo`: a ready shop with sample products, a demo admin and a simulated kiosk."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import psycopg

from stockline import auth, system_config
from stockline.inventory import products

log = logging.getLogger(__name__)

DEMO_EMAIL = "admin@demo-shop.example.com"
SAMPLE_PRODUCTS = [
    ("COLA-033", "Cola 0.33 l", 250, 5, 24),
    ("WATER-05", "Still water 0.5 l", 150, 6, 30),
    ("CHOC-BAR", "Chocolate bar", 180, 4, 12),
    ("CRISPS-S", "Salted crisps", 220, 4, 10),
    ("SANDW-HC", "Ham & cheese sandwich", 450, 3, 6),
    ("APPLE-01", "Apple", 90, 5, 20),
    ("COFFEE-C", "Cold brew coffee", 390, 3, 8),
    ("GUM-MINT", "Mint chewing gum", 120, None, 40),
]


async def prepare(
    conn: psycopg.AsyncConnection[Any], password: str, seed_recipients: str = ""
) -> dict[str, Any]:
    await auth.create_admin(conn, DEMO_EMAIL, password)
    if not await products.list_products(conn):
        for sku, name, price, threshold, stock in SAMPLE_PRODUCTS:
            await products.create_product(
                conn,
                sku=sku,
                name=name,
                price_cents=price,
                low_stock_threshold=threshold,
                initial_stock=stock,
            )
    # a breach needs somebody to tell: without any recipient the demo admin gets the mail
    config = await system_config.read_config(conn, seed_recipients)
    if not config.notification_recipients:
        await system_config.update_config(conn, admin_id=None, notification_recipients=[DEMO_EMAIL])
    _, token = await auth.create_kiosk(conn, f"demo kiosk {time.strftime('%Y-%m-%d %H:%M')}")
    return {"email": DEMO_EMAIL, "kiosk_token": token, "password": password}


def _call(base: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")  # noqa: S310 - our own http URL
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    if data:
        req.add_header("Idempotency-Key", uuid.uuid4().hex)
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read() or b"null")


RESTOCK_REASON = "delivery (demo restock)"


class _SimulatedShop:
    """A kiosk that buys now and then, and a stock clerk who restocks what runs low.

    Products close to their threshold sell more often, so a fresh demo soon shows a
    breach (and its captured email); a low product is restocked after a while, so the
    breach clears and can happen again.
    """

    def __init__(self, base: str, kiosk_token: str, admin_email: str, admin_password: str):
        self.base = base
        self.kiosk_token = kiosk_token
        self.admin_email = admin_email
        self.admin_password = admin_password
        self.admin_token = ""

    def step(self) -> None:
        items = list(_call(self.base, "/api/inventory", self.kiosk_token) or [])
        if not items:
            return
        low = [i for i in items if i["low_stock_flag"] or i["current_stock"] <= 0]
        if low and self.admin_password and random.random() < 0.3:
            self.restock(random.choice(low))
            return
        weights = [
            4
            if i["low_stock_threshold"] is not None
            and i["current_stock"] <= i["low_stock_threshold"] + 3
            else 1
            for i in items
        ]
        pick = random.choices(items, weights)[0]
        _call(
            self.base,
            "/api/purchases",
            self.kiosk_token,
            {"items": [{"product_id": pick["product_id"], "quantity": random.randint(1, 2)}]},
        )

    def restock(self, item: dict[str, Any]) -> None:
        if not self.admin_token:
            answer = _call(
                self.base,
                "/api/auth/login",
                "",
                {"email": self.admin_email, "password": self.admin_password},
            )
            self.admin_token = str(answer["access_token"])
        threshold = item["low_stock_threshold"] or 0
        target = max(3 * threshold, 12)
        delta = target - int(item["current_stock"])
        if delta > 0:
            _call(
                self.base,
                f"/api/inventory/{item['product_id']}/adjustments",
                self.admin_token,
                {"delta": delta, "reason": RESTOCK_REASON},
            )


def start_simulated_kiosk(
    base: str,
    kiosk_token: str,
    per_second: float,
    admin_email: str = DEMO_EMAIL,
    admin_password: str = "",
) -> None:
    """A background thread buying `per_second` times a second on average (0: none)."""
    if per_second <= 0:
        return
    shop = _SimulatedShop(base, kiosk_token, admin_email, admin_password)

    def run() -> None:
        time.sleep(2)
        while True:
            try:
                shop.step()
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    shop.admin_token = ""  # session expired: log in again next time
            except (urllib.error.URLError, OSError, ValueError, KeyError):
                pass  # server starting or stopping
            time.sleep(random.expovariate(per_second))

    threading.Thread(target=run, name="simulated-kiosk", daemon=True).start()
