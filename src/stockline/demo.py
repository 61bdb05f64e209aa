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

from stockline import auth
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


async def prepare(conn: psycopg.AsyncConnection[Any], password: str) -> dict[str, Any]:
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
    _, token = await auth.create_kiosk(conn, f"demo kiosk {time.strftime('%Y-%m-%d %H:%M')}")
    return {"email": DEMO_EMAIL, "kiosk_token": token, "password": password}


def _call(base: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")  # noqa: S310 - our own http URL
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    if data:
        req.add_header("Idempotency-Key", uuid.uuid4().hex)
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read() or b"null")


def start_simulated_kiosk(
    base: str,
    kiosk_token: str,
    per_second: float,
    admin_email: str = DEMO_EMAIL,
    admin_password: str = "",
) -> None:
    """A background thread buying now and then; restocks (as a delivery) when stock runs out."""

    def run() -> None:
        time.sleep(2)
        while True:
            try:
                items = _call(base, "/api/inventory", kiosk_token)
                if items:
                    pick = random.choice(items)
                    _call(
                        base,
                        "/api/purchases",
                        kiosk_token,
                        {
                            "items": [
                                {"product_id": pick["product_id"], "quantity": random.randint(1, 2)}
                            ]
                        },
                    )
            except (urllib.error.URLError, OSError, ValueError):
                pass  # server starting or stopping
            time.sleep(random.expovariate(per_second))

    threading.Thread(target=run, name="simulated-kiosk", daemon=True).start()
