"""Fan-out across processes: both workers of `serve --workers 2` and a second instance,
and a listener connection killed (pg_terminate_backend) while writes continue."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import httpx
import psycopg

from tests.fixtures.db import settled_last_event_id
from tests.fixtures.server import Server, Shop, make_shop
from tests.fixtures.sse import EventCollector

_PID = re.compile(r"pid=(\d+)")


def _stream_pid(stream: EventCollector) -> int:
    stream.wait_for(lambda s: bool(s.parser.comments), what="banner")
    found = _PID.search(stream.parser.comments[0][1])
    assert found, stream.parser.comments
    return int(found.group(1))


def _streams_on_every_worker(server: Server, token: str, workers: int) -> dict[int, EventCollector]:
    by_pid: dict[int, EventCollector] = {}
    spare: list[EventCollector] = []
    for _ in range(40):
        stream = EventCollector(server.url, token=token)
        pid = _stream_pid(stream)
        if pid in by_pid:
            spare.append(stream)
        else:
            by_pid[pid] = stream
        if len(by_pid) == workers:
            break
    for stream in spare:
        stream.close()
    assert len(by_pid) == workers, f"connections reached only {sorted(by_pid)}"
    return by_pid


def _buy(server: Server, token: str, product_id: int) -> None:
    with server.client(token) as c:
        resp = c.post("/api/purchases", json={"items": [{"product_id": product_id, "quantity": 1}]})
    assert resp.status_code == 201, resp.text


def test_write_on_any_process_reaches_every_worker_and_another_instance(
    fresh_db: str, server_factory: Any
) -> None:
    first = server_factory(fresh_db, workers=2)
    second = server_factory(fresh_db, workers=1)
    shop = make_shop(first)
    product = shop.create_product(stock=100)
    streams = _streams_on_every_worker(first, shop.kiosk_token, 2)
    other = EventCollector(second.url, token=shop.kiosk_token)
    everyone = [*streams.values(), other]
    try:
        assert _stream_pid(other) not in streams
        for _ in range(3):
            _buy(first, shop.kiosk_token, product["id"])  # served by either worker
        _buy(second, shop.kiosk_token, product["id"])
        for stream in everyone:
            stream.wait_for(
                lambda s: len([e for e in s.events if e.data.get("source") == "purchase"]) >= 4,
                what="four purchases",
            )
        seen = [[(e.id, e.data["current_stock"]) for e in s.events] for s in everyone]
        assert all(ids == seen[0] for ids in seen)
        assert [stock for _, stock in seen[0][-4:]] == [99, 98, 97, 96]
    finally:
        for stream in everyone:
            stream.close()


def _terminate_listeners(db_url: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN %%' "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def test_listener_killed_while_writes_continue_loses_and_repeats_nothing(
    fresh_db: str, server_factory: Any
) -> None:
    server = server_factory(fresh_db, workers=2)
    shop: Shop = make_shop(server)
    product = shop.create_product(stock=100_000)
    streams = _streams_on_every_worker(server, shop.kiosk_token, 2)
    start = settled_last_event_id(fresh_db)
    stop = threading.Event()
    writes = 0

    def writer() -> None:
        nonlocal writes
        with server.client(shop.kiosk_token) as c:
            while not stop.is_set():
                r = c.post(
                    "/api/purchases", json={"items": [{"product_id": product["id"], "quantity": 1}]}
                )
                assert r.status_code == 201
                writes += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        killed = 0
        for _ in range(3):
            time.sleep(0.3)  # let writes flow between the kills
            killed += _terminate_listeners(fresh_db)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with psycopg.connect(fresh_db, autocommit=True) as conn:
                    n = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND query LIKE 'LISTEN %%'"
                    ).fetchone()
                if n and n[0] >= 2:
                    break
                time.sleep(0.05)
        assert killed >= 6  # three rounds, both workers
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()
    end = settled_last_event_id(fresh_db)
    assert end - start == writes > 0
    try:
        for stream in streams.values():
            stream.wait_for(lambda s: bool(s.ids) and s.ids[-1] >= end, what="every event")
            mine = [i for i in stream.ids if i > start]
            assert mine == list(range(start + 1, end + 1))  # in order, no gap, no duplicate
    finally:
        for stream in streams.values():
            stream.close()
    assert "listener reconnected" in server.log_text()
    health = httpx.get(server.url + "/healthz", timeout=10).json()
    assert health["listener"] == "connected"
    assert health["events"]["listener"]["connects"] >= 2
