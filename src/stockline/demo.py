"""`stockline demo`: a ready shop with sample products, a demo admin and a simulated kiosk.

The demo's credentials live in the data directory (`demo-credentials.json`, mode 0600),
so a restart prints the same password and kiosk token and open sessions keep working.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from stockline import auth, system_config
from stockline.inventory import products
from stockline.simulator import RESTOCK_REASON, start_simulated_shop

__all__ = [
    "DEMO_EMAIL",
    "RESTOCKER_EMAIL",
    "RESTOCK_REASON",
    "DemoCredentials",
    "load_credentials",
    "prepare",
    "start_simulated_shop",
]

log = logging.getLogger(__name__)

DEMO_EMAIL = "admin@demo-shop.example.com"
# the simulator restocks as an admin of its own, so history tells it from a person
RESTOCKER_EMAIL = "demo-restocker@demo-shop.example.com"
DEMO_KIOSK_NAME = "demo kiosk"
CREDENTIALS_FILE = "demo-credentials.json"
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


@dataclass(frozen=True)
class DemoCredentials:
    admin_email: str
    admin_password: str
    restocker_email: str
    restocker_password: str
    kiosk_token: str = ""


def _new_credentials() -> DemoCredentials:
    return DemoCredentials(
        admin_email=DEMO_EMAIL,
        admin_password=secrets.token_urlsafe(9),
        restocker_email=RESTOCKER_EMAIL,
        restocker_password=secrets.token_urlsafe(24),
    )


def load_credentials(data_dir: Path) -> DemoCredentials:
    """The stored credentials, or new ones (stored at once) on a first start."""
    path = data_dir / CREDENTIALS_FILE
    try:
        stored = json.loads(path.read_text())
        return DemoCredentials(**{k: str(stored[k]) for k in DemoCredentials.__dataclass_fields__})
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError):
        log.warning(
            "demo credentials file unreadable; making new ones",
            extra={"action": "demo_credentials_reset", "path": str(path)},
        )
    creds = _new_credentials()
    _store(data_dir, creds)
    return creds


def _store(data_dir: Path, creds: DemoCredentials) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CREDENTIALS_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(creds), out, indent=2)
    tmp.replace(path)  # atomic: a crash leaves the old file or the new one


async def prepare(
    conn: psycopg.AsyncConnection[Any],
    data_dir: Path,
    seed_recipients: str = "",
) -> DemoCredentials:
    """Sample products once, the two demo admins and the one demo kiosk; idempotent."""
    creds = load_credentials(data_dir)
    await auth.ensure_admin(conn, creds.admin_email, creds.admin_password)
    await auth.ensure_admin(conn, creds.restocker_email, creds.restocker_password)
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
        await system_config.update_config(
            conn, admin_id=None, notification_recipients=[creds.admin_email]
        )
    if not creds.kiosk_token or await auth.kiosk_for_token(conn, creds.kiosk_token) is None:
        # first start, a new database, or the demo kiosk was revoked: one new kiosk
        _, token = await auth.create_kiosk(conn, DEMO_KIOSK_NAME)
        creds = replace(creds, kiosk_token=token)
        _store(data_dir, creds)
    return creds
