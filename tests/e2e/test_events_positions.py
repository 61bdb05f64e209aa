"""Positions assigned after commit (decision 0003), end to end: a writer that commits late
is delivered after the events that committed before it, to live and replaying clients; a
long transaction elsewhere on the cluster delays nothing; a session holding the counter
row holds positions back visibly (health, metric, log) and only for as long as it holds it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg

from tests.e2e.alerts_support import wait_until
from tests.fixtures.db import settled_last_event_id, unpositioned
from tests.fixtures.server import Shop, make_shop
from tests.fixtures.sse import EventCollector


def _last_id(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT last_id FROM inventory_event_counter").fetchone()
    assert row is not None
    return int(row[0])


def _buy(shop: Shop, product_id: int) -> float:
    started = time.monotonic()
    with shop.kiosk() as c:
        resp = c.post("/api/purchases", json={"items": [{"product_id": product_id, "quantity": 1}]})
    assert resp.status_code == 201, resp.text
    return time.monotonic() - started


def _write(conn: psycopg.Connection[Any], product_id: int) -> None:
    """One stock change in the connection's open transaction (committed by the caller)."""
    conn.execute(
        "INSERT INTO inventory_ledger (product_id, delta, source) VALUES (%s, -1, 'system')",
        (product_id,),
    )


def _positions(shop: Shop) -> dict[str, Any]:
    health = httpx.get(shop.server.url + "/healthz", timeout=10).json()
    positions: dict[str, Any] = health["events"]["positions"]
    return positions


def _product_of(events: list[Any], position: int) -> int:
    return int(next(e.data["product_id"] for e in events if e.id == position))


def test_a_writer_committing_late_on_another_connection_is_delivered_after_earlier_commits(
    shop: Shop,
) -> None:
    late_product = shop.create_product(stock=100)["id"]
    other = shop.create_product(stock=100)["id"]
    base = settled_last_event_id(shop.db_url)
    with EventCollector(shop.server.url, token=shop.kiosk_token) as live:
        live.wait_for(lambda s: bool(s.parser.comments), what="stream open")
        late = psycopg.connect(shop.db_url)
        try:
            # the service's own way of writing: no lock shared with other writers
            late.execute("SET stockline.event_positions = 'after_commit'")
            _write(late, late_product)
            for _ in range(5):  # purchases commit while the late writer is open
                _buy(shop, other)
            live.wait_for(lambda s: base + 5 in s.ids, what="the five purchases")
            seen_before_late_commit = live.ids[-1]
            assert seen_before_late_commit == base + 5
            late.commit()
        finally:
            late.close()
        live.wait_for(lambda s: base + 6 in s.ids, what="the late writer's event")
        assert [i for i in live.ids if i > base] == list(range(base + 1, base + 7))
        assert _product_of(live.events, base + 6) == late_product
        assert {_product_of(live.events, base + n) for n in range(1, 6)} == {other}
    # a client that had seen everything up to the fifth purchase still gets the late one
    headers = {"Last-Event-ID": str(seen_before_late_commit)}
    with EventCollector(shop.server.url, token=shop.kiosk_token, headers=headers) as resumed:
        resumed.wait_events(1)
        assert resumed.ids[0] == base + 6
        assert resumed.events[0].data["product_id"] == late_product
    # and one that replays from before all of it gets all six, in position order
    headers = {"Last-Event-ID": str(base)}
    with EventCollector(shop.server.url, token=shop.kiosk_token, headers=headers) as replay:
        replay.wait_events(6)
        assert replay.ids[:6] == list(range(base + 1, base + 7))
        assert [e.data["product_id"] for e in replay.events[:6]] == [other] * 5 + [late_product]


def test_a_long_transaction_elsewhere_on_the_cluster_does_not_delay_delivery(
    shop: Shop, pg_admin_url: str
) -> None:
    product = shop.create_product(stock=100)["id"]
    # transactions holding an xid, the cluster-wide horizon (b) would wait for
    elsewhere = psycopg.connect(pg_admin_url)
    here = psycopg.connect(shop.db_url)
    try:
        for conn in (elsewhere, here):
            conn.execute("SELECT pg_current_xact_id()")
        with EventCollector(shop.server.url, token=shop.kiosk_token) as live:
            live.wait_for(lambda s: bool(s.parser.comments), what="stream open")
            base = settled_last_event_id(shop.db_url)
            for n in range(1, 4):
                _buy(shop, product)
                live.wait_for(lambda s, n=n: base + n in s.ids, timeout=10, what="the purchase")
        # all of it while both transactions were still open
        for conn in (elsewhere, here):
            row = conn.execute("SELECT pg_current_xact_id_if_assigned() IS NOT NULL").fetchone()
            assert row is not None and row[0] is True
    finally:
        elsewhere.close()
        here.close()


def test_a_session_holding_the_counter_row_holds_positions_back_visibly_until_it_ends(
    shop: Shop,
) -> None:
    held_product = shop.create_product(stock=100)["id"]
    product = shop.create_product(stock=100)["id"]
    base = settled_last_event_id(shop.db_url)
    # a decision-0001 writer (psql, no setting) left open: it holds the counter row
    holder = psycopg.connect(shop.db_url)
    try:
        _write(holder, held_product)
        with EventCollector(shop.server.url, token=shop.kiosk_token) as live:
            live.wait_for(lambda s: bool(s.parser.comments), what="stream open")
            # the purchase commits and answers within its bounded wait, not when the holder ends
            took = _buy(shop, product)
            assert took < 10
            wait_until(lambda: _positions(shop)["waiting"] >= 1, what="the backlog in /healthz")
            wait_until(
                lambda: _positions(shop)["oldest_waiting_seconds"] >= 1.0, what="its age growing"
            )
            metrics = httpx.get(shop.server.url + "/metrics", timeout=10).text
            gauge = next(
                line
                for line in metrics.splitlines()
                if line.startswith("stockline_events_unpositioned_seconds")
            )
            assert float(gauge.split()[-1]) > 0
            assert base + 1 not in live.ids  # nothing is delivered out of order meanwhile
            holder.commit()
            live.wait_for(lambda s: base + 2 in s.ids, what="both events once the row is free")
            assert [i for i in live.ids if i > base] == [base + 1, base + 2]
            assert _product_of(live.events, base + 1) == held_product
            assert _product_of(live.events, base + 2) == product
        wait_until(lambda: _positions(shop)["waiting"] == 0, what="the backlog to clear")
    finally:
        holder.close()


def test_the_snapshot_numbers_the_committed_events_it_shows(
    fresh_db: str, server_factory: Any
) -> None:
    # the timer is slowed down, so only the snapshot read can number the write below
    server = server_factory(fresh_db, env={"STOCKLINE_EVENT_POSITION_SECONDS": "10"})
    shop = make_shop(server)
    product = shop.create_product(stock=100)["id"]
    base = settled_last_event_id(fresh_db)
    with psycopg.connect(fresh_db) as writer:  # the service's way, without its numbering call
        writer.execute("SET stockline.event_positions = 'after_commit'")
        _write(writer, product)
        writer.commit()
    assert _last_id(fresh_db) == base  # committed, not numbered yet
    with EventCollector(server.url, token=shop.kiosk_token, params={"snapshot": 1}) as s:
        s.wait_events(1)
        snap = s.events[0]
        assert snap.type == "snapshot"
        # the inventory shows the write, and the position counts its event
        stock = {row["product_id"]: row["current_stock"] for row in snap.data["inventory"]}
        assert stock[product] == 99
        assert snap.id == snap.data["last_event_id"] == base + 1
        _buy(shop, product)
        s.wait_events(2)
        assert s.ids == [base + 1, base + 2]  # the write's event is not sent again
        assert s.events[1].data["current_stock"] == 98


def test_commands_whose_numbering_fails_still_answer_and_the_timer_numbers_them_later(
    fresh_db: str, server_factory: Any
) -> None:
    server = server_factory(fresh_db, env={"STOCKLINE_EVENT_POSITION_SECONDS": "0.2"})
    shop = make_shop(server)
    product = shop.create_product(stock=100)["id"]
    base = settled_last_event_id(fresh_db)  # the product's own event numbered
    fn = "stockline_inventory_events_position_v1(integer)"
    with EventCollector(server.url, token=shop.kiosk_token) as live:
        live.wait_for(lambda s: bool(s.parser.comments), what="stream open")
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute(f"ALTER FUNCTION {fn} RENAME TO broken_position")  # the fault
            try:
                with shop.admin() as c:
                    resp = c.post(
                        f"/api/inventory/{product}/adjustments",
                        json={"delta": -3, "reason": "numbering fails"},
                    )
                assert resp.status_code == 201, resp.text  # committed, so answered as such
                # committed but not numbered (the timer fails the same way meanwhile)
                assert unpositioned(fresh_db) >= 1
                # the purchase still answers: it answers at COMMIT, and its round's
                # numbering fails the same way
                _buy(shop, product)
            finally:
                conn.execute("ALTER FUNCTION broken_position(integer) RENAME TO " + fn[:-9])
        live.wait_for(lambda s: base + 2 in s.ids, what="both, numbered by the timer")
        assert [e.data["current_stock"] for e in live.events if e.id and e.id > base] == [97, 96]
    assert "event_positions_failed" in server.log_text()
