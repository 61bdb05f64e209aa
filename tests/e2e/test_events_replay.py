"""Gapless replay: Last-Event-ID after missed writes, out-of-order commits held open in
real transactions, and the `reset` event once retention has pruned the requested id."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from stockline.events.retention import PRUNE_LOCK_KEY
from tests.fixtures.db import settled_last_event_id
from tests.fixtures.server import Shop, make_shop
from tests.fixtures.sse import EventCollector, assert_strictly_increasing


def _buy(shop: Shop, product_id: int, quantity: int = 1) -> None:
    with shop.kiosk() as c:
        resp = c.post(
            "/api/purchases", json={"items": [{"product_id": product_id, "quantity": quantity}]}
        )
    assert resp.status_code == 201, resp.text


def _position(db_url: str) -> tuple[int, int]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT last_id, pruned_through FROM inventory_event_counter").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _settled(db_url: str) -> tuple[int, int]:
    """_position once every committed event has its position (settled_last_event_id)."""
    settled_last_event_id(db_url)
    return _position(db_url)


def _wait(cond: Callable[[], bool], timeout: float = 15, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_reconnect_with_last_event_id_replays_exactly_the_missed_events_then_live(
    shop: Shop,
) -> None:
    p = shop.create_product(stock=1000)
    with EventCollector(shop.server.url, token=shop.kiosk_token) as first:
        _buy(shop, p["id"])
        first.wait_for(
            lambda s: any(e.data.get("source") == "purchase" for e in s.events), what="purchase"
        )
        last_seen = next(e.id for e in first.events if e.data.get("source") == "purchase")
    for _ in range(50):
        _buy(shop, p["id"])
    with psycopg.connect(shop.db_url) as conn:
        written = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM inventory_events WHERE id > %s ORDER BY id", (last_seen,)
            )
        ]
    assert written == list(range(last_seen + 1, last_seen + 51))
    headers = {"Last-Event-ID": str(last_seen)}
    with EventCollector(shop.server.url, token=shop.kiosk_token, headers=headers) as again:
        again.wait_events(50)
        assert again.ids == list(range(last_seen + 1, last_seen + 51))
        stocks = [e.data["current_stock"] for e in again.events]
        assert stocks == list(range(998, 948, -1))
        _buy(shop, p["id"])  # then the live stream, no gap
        again.wait_events(51)
        assert again.ids == list(range(last_seen + 1, last_seen + 52))
    # the same through ?last_event_id= (what a first EventSource URL can carry)
    params = {"last_event_id": last_seen + 40}
    with EventCollector(shop.server.url, token=shop.kiosk_token, params=params) as q:
        q.wait_events(11)
        assert q.ids == list(range(last_seen + 41, last_seen + 52))


def test_replay_while_writes_continue_has_no_gap_and_no_duplicate(shop: Shop) -> None:
    p = shop.create_product(stock=1000)
    start, _ = _settled(shop.db_url)
    for _ in range(30):
        _buy(shop, p["id"])
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            _buy(shop, p["id"])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with EventCollector(
            shop.server.url, token=shop.kiosk_token, headers={"Last-Event-ID": str(start)}
        ) as s:
            s.wait_events(60, timeout=30)
    finally:
        stop.set()
        thread.join()
    ids = s.ids
    assert ids == list(range(start + 1, start + 1 + len(ids)))


def _held_write(db_url: str, product_id: int) -> tuple[psycopg.Connection[Any], int]:
    conn = psycopg.connect(db_url)
    conn.execute(
        "INSERT INTO inventory_ledger (product_id, delta, source) VALUES (%s, -1, 'system')",
        (product_id,),
    )
    return conn, int(conn.info.backend_pid)


def test_out_of_order_commit_never_skips_the_earlier_id(shop: Shop) -> None:
    a = shop.create_product(stock=100)
    b = shop.create_product(stock=100)
    base, _ = _settled(shop.db_url)
    with EventCollector(shop.server.url, token=shop.kiosk_token) as live:
        live.wait_for(lambda s: bool(s.parser.comments), what="stream open")
        # transaction A takes id base+1 and stays open
        conn_a, _ = _held_write(shop.db_url, a["id"])
        # transaction B (another product, another connection) must wait on the counter lock
        b_state: dict[str, Any] = {}
        b_may_commit = threading.Event()

        def transaction_b() -> None:
            conn_b = psycopg.connect(shop.db_url)
            b_state["pid"] = conn_b.info.backend_pid
            conn_b.execute(
                "INSERT INTO inventory_ledger (product_id, delta, source) "
                "VALUES (%s, -1, 'system')",
                (b["id"],),
            )
            row = conn_b.execute(
                "SELECT max(id) FROM inventory_events WHERE payload->>'product_id' = %s",
                (str(b["id"]),),
            ).fetchone()
            b_state["id"] = row[0] if row else None
            b_may_commit.wait(30)
            conn_b.commit()
            conn_b.close()

        thread = threading.Thread(target=transaction_b)
        thread.start()
        with psycopg.connect(shop.db_url, autocommit=True) as observer:

            def b_waits_on_a_lock() -> bool:
                pid = b_state.get("pid")
                if pid is None:
                    return False
                row = observer.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone()
                return row is not None and row[0] == "Lock"

            _wait(b_waits_on_a_lock, what="B blocked behind A on the counter lock")
            # a reader sees neither while A is open; B has no id yet
            seen = observer.execute(
                "SELECT id FROM inventory_events WHERE id > %s", (base,)
            ).fetchall()
            assert seen == []
            assert "id" not in b_state

            conn_a.commit()  # A commits first: B now draws base+2 and stays open
            conn_a.close()
            _wait(lambda: "id" in b_state, what="B's id")
            assert b_state["id"] == base + 2
            rows = observer.execute(
                "SELECT id FROM inventory_events WHERE id > %s ORDER BY id", (base,)
            ).fetchall()
            assert [r[0] for r in rows] == [base + 1]  # B's row invisible until it commits
            live.wait_for(lambda s: base + 1 in s.ids, what="A's event")
            # the stream stays idle (heartbeat after A's event) and has not skipped ahead
            beats_before = len(live.parser.comments)
            live.wait_for(lambda s: len(s.parser.comments) > beats_before, what="heartbeat")
            assert base + 2 not in live.ids

            b_may_commit.set()
            thread.join(30)
            live.wait_for(lambda s: base + 2 in s.ids, what="B's event")
        got = [i for i in live.ids if i > base]
        assert got == [base + 1, base + 2]
    # a client that had seen only `base` replays both, in order
    with EventCollector(
        shop.server.url, token=shop.kiosk_token, headers={"Last-Event-ID": str(base)}
    ) as replay:
        replay.wait_events(2)
        assert replay.ids[:2] == [base + 1, base + 2]
        assert_strictly_increasing(replay.ids)


def test_rolled_back_event_leaves_no_hole_in_the_ids(shop: Shop) -> None:
    a = shop.create_product(stock=10)
    base, _ = _settled(shop.db_url)
    conn, _ = _held_write(shop.db_url, a["id"])
    conn.rollback()
    conn.close()
    _buy(shop, a["id"])
    with EventCollector(
        shop.server.url, token=shop.kiosk_token, headers={"Last-Event-ID": str(base)}
    ) as s:
        s.wait_events(1)
        assert s.ids[0] == base + 1


def test_id_older_than_retention_gets_one_reset_event_then_live(
    fresh_db: str, server_factory: Any
) -> None:
    server = server_factory(
        fresh_db,
        env={
            "STOCKLINE_EVENT_RETENTION_DAYS": "0.00002",  # 1.7 s
            "STOCKLINE_EVENT_PRUNE_SECONDS": "0.3",
        },
    )
    shop = make_shop(server)
    p = shop.create_product(stock=50)
    for _ in range(5):
        _buy(shop, p["id"])
    last, _ = _settled(shop.db_url)
    _wait(lambda: _position(shop.db_url)[1] >= last, timeout=20, what="retention to prune")
    with psycopg.connect(shop.db_url) as conn:
        left = conn.execute("SELECT count(*) FROM inventory_events").fetchone()
    assert left is not None and left[0] == 0
    assert "events_pruned" in server.log_text()

    with EventCollector(
        server.url, token=shop.kiosk_token, headers={"Last-Event-ID": "2"}
    ) as stream:
        stream.wait_events(1)
        reset = stream.events[0]
        assert reset.type == "reset"
        assert reset.data["reason"] == "retention"
        assert reset.data["requested_last_event_id"] == 2
        assert reset.id == reset.data["last_event_id"] == last
        inventory = {row["product_id"]: row for row in reset.data["inventory"]}
        assert inventory[p["id"]]["current_stock"] == 45
        _buy(shop, p["id"])
        stream.wait_events(2)
        assert [e.type for e in stream.events] == ["reset", "stock-updated"]
        assert stream.ids == [last, last + 1]

    # a client that is up to date is not reset, even though everything before it is gone
    with EventCollector(
        server.url, token=shop.kiosk_token, headers={"Last-Event-ID": str(last + 1)}
    ) as current:
        _buy(shop, p["id"])
        current.wait_events(1)
        assert [e.type for e in current.events] == ["stock-updated"]
        assert current.ids == [last + 2]


def test_only_the_holder_of_the_prune_lock_deletes_events(
    fresh_db: str, server_factory: Any
) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as blocker:
        blocker.execute("SELECT pg_advisory_lock(%s)", (PRUNE_LOCK_KEY,))
        server = server_factory(
            fresh_db,
            workers=2,
            env={
                "STOCKLINE_EVENT_RETENTION_DAYS": "0.00001",  # under 1 s
                "STOCKLINE_EVENT_PRUNE_SECONDS": "0.2",
            },
        )
        shop = make_shop(server)
        shop.create_product(stock=5)
        last, _ = _settled(fresh_db)
        # expired, both workers keep trying, but the lock is taken: nothing is deleted
        time.sleep(2.5)  # several prune rounds; the point is that none of them acts
        assert _position(fresh_db)[1] == 0
        with psycopg.connect(fresh_db) as conn:
            count = conn.execute("SELECT count(*) FROM inventory_events").fetchone()
        assert count is not None and count[0] == last
        blocker.execute("SELECT pg_advisory_unlock(%s)", (PRUNE_LOCK_KEY,))
    _wait(lambda: _position(fresh_db)[1] >= last, what="prune after the lock is free")
