"""The write path's plans and guards (migration 0025), on real PostgreSQL.

A purchase finds its products and their snapshots by primary key, whatever the plan
cache holds: a generic plan that scans a small catalogue reads every dead row version of
its hottest pages on every sale. The stock guards still refuse every direct write, now
from their triggers' WHEN clauses.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pgerrors

from tests.fixtures.db import balance, stocked_product

PURCHASE = (
    "SELECT stockline_transactions_purchase_v1('kiosk:plans', %s, '\\x00'::bytea, NULL,"
    " %s::bigint[], %s::int[])"
)


def _products(db_url: str, n: int, stock: int = 100) -> list[int]:
    return [stocked_product(db_url, stock, price=150, name="Planned") for _ in range(n)]


def _scans(conn: psycopg.Connection[object]) -> dict[str, int]:
    """Sequential scans of the catalogue's tables by the current transaction so far."""
    rows = conn.execute(
        "SELECT relname, seq_scan FROM pg_stat_xact_user_tables"
        " WHERE relname IN ('products', 'inventory_snapshot')"
    ).fetchall()
    return {str(name): int(count) for name, count in rows}


def test_a_purchase_reads_its_products_by_key_and_never_scans_the_catalogue(
    fresh_db: str,
) -> None:
    ids = _products(fresh_db, 12)
    # a fresh session: the function's statements are planned now, generically (0023)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("SET stockline.event_positions = 'after_commit'")
        for n in range(8):  # past the plan cache's first custom plans
            basket = [ids[n], ids[(n + 5) % 12], ids[11]]
            before = _scans(conn)
            answer = conn.execute(PURCHASE, (f"k{n}", basket, [1, 2, 1])).fetchone()
            assert answer is not None and answer[0]["outcome"] == "created"
            assert _scans(conn) == before, f"purchase {n} scanned {before} -> {_scans(conn)}"
            conn.commit()
    for pid in ids[:8]:
        stock, snapshot, ledger = balance(fresh_db, pid)
        assert stock == snapshot == ledger < 100


BATCH = (
    "SELECT stockline_transactions_purchase_batch_v2(%s::bytea[], %s::text[], %s::bytea[],"
    " %s::int[], %s::bigint[], %s::int[])"
)


def _event_scans(conn: psycopg.Connection[object]) -> int:
    row = conn.execute(
        "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'inventory_events'"
    ).fetchone()
    return int(row[0]) if row is not None else 0


def test_a_batch_of_purchases_reads_its_products_by_key_and_never_scans_the_catalogue(
    fresh_db: str,
) -> None:
    ids = _products(fresh_db, 12)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("INSERT INTO kiosks (name, token_hash) VALUES ('plans', '\\x01'::bytea)")
        conn.commit()
        conn.execute("SET stockline.event_positions = 'after_commit'")
        for n in range(8):  # past the plan cache's first custom plans
            baskets = [[ids[n], ids[11]], [ids[(n + 5) % 12]], [ids[n], ids[(n + 3) % 12]]]
            owners = [i + 1 for i, b in enumerate(baskets) for _ in b]
            products = [p for b in baskets for p in b]
            before, events_before = _scans(conn), _event_scans(conn)
            row = conn.execute(
                BATCH,
                (
                    [b"\x01"] * 3,
                    [f"b{n}-{i}" for i in range(3)],
                    [b"\x00"] * 3,
                    owners,
                    products,
                    [1] * len(products),
                ),
            ).fetchone()
            assert row is not None
            assert [o["outcome"] for o in row[0]["outcomes"]] == ["created"] * 3
            assert row[0]["numbered"] is True  # and the events it numbered read by position
            assert _scans(conn) == before, f"batch {n} scanned {before} -> {_scans(conn)}"
            assert _event_scans(conn) == events_before, f"batch {n} scanned the events"
            conn.commit()
    for pid in ids:
        stock, snapshot, ledger = balance(fresh_db, pid)
        assert stock == snapshot == ledger


def test_a_basket_names_its_unknown_products_before_its_inactive_ones(fresh_db: str) -> None:
    good, retired = _products(fresh_db, 2)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("UPDATE products SET active = false WHERE id = %s", (retired,))
        conn.commit()
        with pytest.raises(psycopg.Error) as unknown:
            conn.execute(PURCHASE, ("u", [retired, 999_999_999, good], [1, 1, 1]))
        conn.rollback()
        assert unknown.value.sqlstate == "SL404"
        assert "999999999" in str(unknown.value)
        with pytest.raises(psycopg.Error) as inactive:
            conn.execute(PURCHASE, ("i", [good, retired], [1, 1]))
        conn.rollback()
        assert inactive.value.sqlstate == "SL422"
        assert str(retired) in str(inactive.value)
    assert balance(fresh_db, good) == (100, 100, 100)


def test_a_basket_with_a_product_twice_answers_every_line_in_order(fresh_db: str) -> None:
    a, b = _products(fresh_db, 2)
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute(PURCHASE, ("twice", [b, a, b], [1, 2, 3])).fetchone()
    assert row is not None
    answer = row[0]["answer"]
    assert [(i["product_id"], i["quantity"], i["line_total_cents"]) for i in answer["items"]] == [
        (b, 1, 150),
        (a, 2, 300),
        (b, 3, 450),
    ]
    assert answer["total_cents"] == 900
    assert balance(fresh_db, a) == (98, 98, 98)
    assert balance(fresh_db, b) == (96, 96, 96)


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("UPDATE products SET stock_quantity = 500 WHERE id = %s", pgerrors.RestrictViolation),
        (
            "UPDATE products SET stock_quantity = stock_quantity + 1, name = 'x' WHERE id = %s",
            pgerrors.RestrictViolation,
        ),
        (
            "INSERT INTO products (sku, name, price_cents, stock_quantity)"
            " SELECT 'NEW-' || %s, 'n', 1, 5",
            pgerrors.CheckViolation,
        ),
        (
            "UPDATE inventory_snapshot SET last_activity_at = now() - interval '1 day'"
            " WHERE product_id = %s",
            pgerrors.RestrictViolation,
        ),
        ("DELETE FROM inventory_snapshot WHERE product_id = %s", pgerrors.RestrictViolation),
    ],
)
def test_direct_stock_writes_are_still_refused(
    fresh_db: str, statement: str, error: type[Exception]
) -> None:
    (pid,) = _products(fresh_db, 1, stock=5)
    with psycopg.connect(fresh_db) as conn, pytest.raises(error):
        conn.execute(statement, (pid,))
    assert balance(fresh_db, pid) == (5, 5, 5)


def test_writes_that_leave_stock_alone_pass_the_guards(fresh_db: str) -> None:
    (pid,) = _products(fresh_db, 1, stock=5)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("UPDATE products SET name = 'Renamed' WHERE id = %s", (pid,))
        conn.execute("UPDATE products SET stock_quantity = stock_quantity WHERE id = %s", (pid,))
        conn.execute(
            "UPDATE inventory_snapshot SET tracking_enabled = false WHERE product_id = %s", (pid,)
        )
    assert balance(fresh_db, pid) == (5, 5, 5)
