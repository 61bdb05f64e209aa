"""Helpers shared by the alerting tests: wait for a condition, read the log, buy."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import psycopg
from psycopg.rows import dict_row

from tests.fixtures.server import Server, Shop

T = TypeVar("T")
STAFF = "staff@shop.example.com"


def wait_until(fn: Callable[[], T], timeout: float = 15, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last: T = fn()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(0.05)
        last = fn()
    return last


def notifications(db_url: str, product_id: int) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return list(
            conn.execute(
                "SELECT * FROM email_notification_log WHERE product_id = %s ORDER BY id",
                (product_id,),
            )
        )


def attempts(db_url: str, notification_id: int) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return list(
            conn.execute(
                "SELECT * FROM email_notification_attempts WHERE notification_id = %s"
                " ORDER BY attempt_no",
                (notification_id,),
            )
        )


def one_notification(db_url: str, product_id: int, status: str | None = None) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        rows = notifications(db_url, product_id)
        if rows and (status is None or rows[-1]["status"] == status):
            return rows[-1]
        return None

    return wait_until(found, what=f"a {status or 'any'} notification for product {product_id}")


def wait_status(db_url: str, notification_id: int, status: str, timeout: float = 20) -> None:
    def reached() -> bool:
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT status FROM email_notification_log WHERE id = %s", (notification_id,)
            ).fetchone()
        return bool(row and row[0] == status)

    wait_until(reached, timeout, f"notification {notification_id} to be {status}")


def buy(shop: Shop, product_id: int, quantity: int = 1) -> None:
    with shop.kiosk() as c:
        resp = c.post(
            "/api/purchases", json={"items": [{"product_id": product_id, "quantity": quantity}]}
        )
    assert resp.status_code == 201, resp.text


def adjust(shop: Shop, product_id: int, delta: int) -> None:
    with shop.admin() as c:
        resp = c.post(
            f"/api/inventory/{product_id}/adjustments", json={"delta": delta, "reason": "test"}
        )
    assert resp.status_code == 201, resp.text


def leader_of(servers: dict[str, Server]) -> str:
    """The name of the instance whose process leads the mail worker (its /healthz says)."""

    def find() -> str | None:
        for name, server in servers.items():
            try:
                if httpx.get(server.url + "/healthz", timeout=2).json()["worker"]["is_leader"]:
                    return name
            except httpx.HTTPError:
                continue
        return None

    return wait_until(find, what="a leader")
