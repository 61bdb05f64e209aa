"""The ledger trigger applies a whole INSERT at once (migration 0027), on real PostgreSQL.

One statement that inserts several ledger rows, the same product among them more than
once, must leave the same stock, snapshot, notifications and events, in the same order,
as applying its rows one at a time: with events positioned after commit (the service's
connections; the set-based path when no flag moves) and with decision 0001's counter
row (always row by row).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.fixtures.db import balance, stocked_product

MODES = {"after_commit": "SET stockline.event_positions = 'after_commit'", "counter": None}


def _insert(
    db_url: str, mode: str, rows: list[tuple[int, int]], *, one_by_one: int | None = None
) -> list[dict[str, Any]]:
    """One INSERT of (product, delta) rows in that order; the events it wrote, in order,
    without their timestamps. one_by_one: how many rows must have been applied singly."""
    with psycopg.connect(db_url) as conn:
        conn.execute("SET track_functions = 'pl'")
        if MODES[mode]:
            conn.execute(MODES[mode])  # type: ignore[arg-type]
        xid = conn.execute(
            "INSERT INTO inventory_ledger (product_id, delta, source)"
            " SELECT p, d, 'manual_adjustment' FROM unnest(%s::bigint[], %s::bigint[])"
            " WITH ORDINALITY AS r(p, d, n) ORDER BY n"
            " RETURNING pg_current_xact_id()::text",
            ([p for p, _ in rows], [d for _, d in rows]),
        ).fetchone()
        assert xid is not None
        events = conn.execute(
            "SELECT type, payload - 'last_activity_at' FROM inventory_events"
            " WHERE tx = %s::xid8 ORDER BY seq",
            (xid[0],),
        ).fetchall()
        singly = conn.execute(
            "SELECT COALESCE(sum(calls), 0) FROM pg_stat_xact_user_functions"
            " WHERE funcname = 'stockline_inventory_ledger_apply_one'"
        ).fetchone()
    if one_by_one is not None:
        assert singly == (one_by_one,)
    return [{"type": t, **payload} for t, payload in events]


def _notifications(db_url: str, product_id: int) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [
            str(r[0])
            for r in conn.execute(
                "SELECT type FROM email_notification_log WHERE product_id = %s ORDER BY id",
                (product_id,),
            )
        ]


@pytest.mark.parametrize("mode", list(MODES))
def test_a_multi_row_insert_writes_one_event_per_row_in_row_order(fresh_db: str, mode: str) -> None:
    a = stocked_product(fresh_db, 10)  # threshold 1: nothing below crosses it
    b = stocked_product(fresh_db, 20)
    rows = [(a, -2), (b, -1), (a, -3), (a, 1)]
    # with events positioned after commit, no row moves a flag: applied all at once
    events = _insert(fresh_db, mode, rows, one_by_one=0 if mode == "after_commit" else 4)
    assert [(e["type"], e["product_id"], e["current_stock"], e["delta"]) for e in events] == [
        ("stock-updated", a, 8, -2),
        ("stock-updated", b, 19, -1),
        ("stock-updated", a, 5, -3),
        ("stock-updated", a, 6, 1),
    ]
    assert all(not e["low_stock_flag"] and not e["negative_flag"] for e in events)
    assert balance(fresh_db, a) == (6, 6, 6)
    assert balance(fresh_db, b) == (19, 19, 19)


def test_rows_that_cross_the_threshold_breach_re_arm_and_go_negative_as_one_by_one(
    fresh_db: str,
) -> None:
    seen: dict[str, list[dict[str, Any]]] = {}
    for mode in MODES:
        p = stocked_product(fresh_db, 3)  # threshold 1
        quiet = stocked_product(fresh_db, 50)
        events = _insert(
            fresh_db, mode, [(quiet, -1), (p, -1), (p, -1), (p, -2), (p, 5)], one_by_one=5
        )
        assert balance(fresh_db, p) == (4, 4, 4)
        assert balance(fresh_db, quiet) == (49, 49, 49)
        # one breach, one negative-stock notice; the restock re-armed both
        assert _notifications(fresh_db, p) == ["low_stock", "negative_stock"]
        names = {p: "p", quiet: "q"}  # the two modes' products differ only by id
        seen[mode] = [{**e, "product_id": names[e["product_id"]]} for e in events]
    expected = [
        ("stock-updated", "q", 49),
        ("stock-updated", "p", 2),
        ("stock-updated", "p", 1),
        ("threshold-breach", "p", 1),
        ("stock-updated", "p", -1),
        ("stock-updated", "p", 4),
        ("threshold-cleared", "p", 4),
    ]
    after_commit = [(e["type"], e["product_id"], e["current_stock"]) for e in seen["after_commit"]]
    assert after_commit == expected
    assert seen["after_commit"] == seen["counter"]


def test_a_purchase_of_the_same_product_on_two_lines_steps_its_stock(fresh_db: str) -> None:
    p = stocked_product(fresh_db, 10)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("SET stockline.event_positions = 'after_commit'")
        result = conn.execute(
            "SELECT stockline_transactions_purchase_v1('kiosk:t', 'k1', '\\x00'::bytea, NULL,"
            " %s::bigint[], ARRAY[2, 3])",
            ([p, p],),
        ).fetchone()
        assert result is not None and result[0]["outcome"] == "created"
        stocks = [
            r[0]
            for r in conn.execute(
                "SELECT (payload->>'current_stock')::int FROM inventory_events"
                " WHERE tx = pg_current_xact_id() ORDER BY seq"
            )
        ]
    assert stocks == [8, 5]
    assert balance(fresh_db, p) == (5, 5, 5)
