"""The demo's simulated shop: a kiosk that buys now and then, and a stock clerk (an admin
of its own, `demo-restocker@…`) who restocks what runs low.

It talks to the server over HTTP like any client. Refused credentials (401) or a login
throttle (429) pause it with a warning, growing the pause each time, instead of
retrying at full speed: a retry storm with a stale password would lock the login
throttle for every admin of the shop.
"""

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

log = logging.getLogger("stockline.demo")

RESTOCK_REASON = "delivery (demo restock)"
MAX_PAUSE_SECONDS = 300.0


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


class SimulatedShop:
    """Products close to their threshold sell more often, so a fresh demo soon shows a
    breach (and its captured email); a low product is restocked after a while, so the
    breach clears and can happen again."""

    def __init__(
        self, base: str, kiosk_token: str, restocker_email: str, restocker_password: str
    ) -> None:
        self.base = base
        self.kiosk_token = kiosk_token
        self.restocker_email = restocker_email
        self.restocker_password = restocker_password
        self.admin_token = ""
        self.pause = 0.0  # the current back-off, seconds; 0 when all is well
        self.restock_pause = 0.0
        self.restock_after = 0.0  # time.monotonic() before which the clerk waits

    def step(self) -> None:
        items = list(_call(self.base, "/api/inventory", self.kiosk_token) or [])
        if not items:
            return
        low = [i for i in items if i["low_stock_flag"] or i["current_stock"] <= 0]
        clerk_ready = self.restocker_password and time.monotonic() >= self.restock_after
        if low and clerk_ready and random.random() < 0.3:
            try:
                self.restock(random.choice(low))
                self.restock_pause = 0.0
            except urllib.error.HTTPError as exc:
                if exc.code not in (401, 429):
                    raise
                # only the clerk waits: the kiosk goes on selling meanwhile
                self.admin_token = ""  # a session may have ended: log in afresh after
                self.restock_pause = _back_off(self.restock_pause, exc, "demo restocking")
                self.restock_after = time.monotonic() + self.restock_pause
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
                {"email": self.restocker_email, "password": self.restocker_password},
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

    def run_forever(self, per_second: float) -> None:
        time.sleep(2)
        while True:
            wait = random.expovariate(per_second)
            try:
                self.step()
                self.pause = 0.0
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 429):  # the kiosk's token was revoked, or throttled
                    self.pause = _back_off(self.pause, exc, "demo kiosk")
                    wait = self.pause
            except (urllib.error.URLError, OSError, ValueError, KeyError):
                pass  # server starting or stopping
            time.sleep(wait)


def _back_off(previous: float, exc: urllib.error.HTTPError, who: str) -> float:
    """The next pause after a 401 or 429: doubled from 5 s up to 5 min, or Retry-After."""
    pause = min(MAX_PAUSE_SECONDS, max(5.0, previous * 2))
    retry_after = exc.headers.get("Retry-After") if exc.headers else None
    if retry_after and retry_after.isdigit():
        pause = min(MAX_PAUSE_SECONDS, max(pause, float(retry_after)))
    what = "credentials refused" if exc.code == 401 else "throttled"
    log.warning(
        f"{who} {what} (HTTP {exc.code}); pausing {pause:.0f} s",
        extra={"action": "demo_simulation_paused", "status": exc.code, "pause": pause},
    )
    return pause


def start_simulated_shop(
    base: str,
    kiosk_token: str,
    per_second: float,
    restocker_email: str,
    restocker_password: str,
) -> SimulatedShop | None:
    """A background thread buying `per_second` times a second on average (0: none)."""
    if per_second <= 0:
        return None
    shop = SimulatedShop(base, kiosk_token, restocker_email, restocker_password)
    threading.Thread(
        target=shop.run_forever, args=(per_second,), name="simulated-shop", daemon=True
    ).start()
    return shop
