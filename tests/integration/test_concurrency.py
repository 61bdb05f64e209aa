"""S-1 under concurrency: many kiosks buying the same products in any order."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from tests.fixtures.db import balance, scalar
from tests.fixtures.server import make_shop


def test_200_concurrent_purchases_in_shuffled_order_all_succeed_and_balance(
    fresh_db: str, server_factory: Callable[..., Any]
) -> None:
    server = server_factory(fresh_db, workers=2)
    shop = make_shop(server)
    products = [shop.create_product(stock=1000) for _ in range(3)]
    ids = [p["id"] for p in products]
    clients, per_client = 20, 10
    statuses: list[int] = []
    bought = {pid: 0 for pid in ids}
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def kiosk(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(
            base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {shop.kiosk_token}"}
        ) as c:
            start.wait()
            for _ in range(per_client):
                order = ids[:]
                rng.shuffle(order)
                items = [{"product_id": pid, "quantity": rng.randint(1, 3)} for pid in order]
                resp = c.post("/api/purchases", json={"items": items})
                with lock:
                    statuses.append(resp.status_code)
                    if resp.status_code == 201:
                        for item in items:
                            bought[item["product_id"]] += item["quantity"]

    threads = [threading.Thread(target=kiosk, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert statuses == [201] * (clients * per_client)
    for pid in ids:
        stock, snap, ledger_sum = balance(fresh_db, pid)
        assert stock == snap == ledger_sum == 1000 - bought[pid]
        rows = scalar(
            fresh_db,
            "SELECT count(*) FROM inventory_ledger WHERE product_id = %s AND source = 'purchase'",
            pid,
        )
        assert rows == clients * per_client
    assert scalar(fresh_db, "SELECT count(*) FROM transactions") == clients * per_client
    # purchases that arrived together committed together (inventory/purchase_batch.py):
    # some transaction rows share the xmin of one database transaction
    assert (
        scalar(
            fresh_db,
            "SELECT count(*) FROM (SELECT xmin::text FROM transactions"
            " GROUP BY xmin::text HAVING count(*) > 1) batches",
        )
        > 0
    )

    verify = subprocess.run(
        [sys.executable, "-m", "stockline", "verify"],
        env={**server.env, "DATABASE_URL": fresh_db},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_concurrent_duplicates_of_one_idempotency_key_make_one_transaction(
    fresh_db: str, server_factory: Callable[..., Any]
) -> None:
    server = server_factory(fresh_db, workers=2)
    shop = make_shop(server)
    p = shop.create_product(stock=10)
    body = {"items": [{"product_id": p["id"], "quantity": 1}]}
    answers: list[httpx.Response] = []
    start = threading.Barrier(10)

    def send() -> None:
        with shop.kiosk() as c:
            start.wait()
            answers.append(
                c.post("/api/purchases", json=body, headers={"Idempotency-Key": "double-tap"})
            )

    threads = [threading.Thread(target=send) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["transaction_id"] for a in answers}) == 1
    assert scalar(fresh_db, "SELECT count(*) FROM transactions") == 1
    assert balance(fresh_db, p["id"]) == (9, 9, 9)


def test_twenty_crossings_at_once_make_exactly_one_breach(
    fresh_db: str, server_factory: Callable[..., Any]
) -> None:
    server = server_factory(fresh_db, workers=2)
    shop = make_shop(server)
    p = shop.create_product(stock=25, threshold=20)
    start = threading.Barrier(20)

    def buy() -> None:
        with shop.kiosk() as c:
            start.wait()
            resp = c.post(
                "/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 1}]}
            )
            assert resp.status_code == 201

    threads = [threading.Thread(target=buy) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(fresh_db) as conn:
        notes = conn.execute(
            "SELECT count(*) FROM email_notification_log WHERE product_id = %s", (p["id"],)
        ).fetchone()
        events = conn.execute(
            "SELECT count(*) FROM inventory_events WHERE type ="
            " 'threshold-breach' AND payload->>'product_id' = %s",
            (str(p["id"]),),
        ).fetchone()
    assert notes == (1,) and events == (1,)
    assert balance(fresh_db, p["id"]) == (5, 5, 5)
