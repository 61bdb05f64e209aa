"""Defence in depth (SPEC §7.1, issue 10), on the embedded PostgreSQL.

The snapshot changes only through the ledger path; a reconciliation beyond 32 bits is
an ordinary correction; and `serve` runs as a role that owns nothing, with migrations
applied by the owner through STOCKLINE_MIGRATE_DATABASE_URL. That role cannot rewrite
the ledger, cannot disable a trigger, cannot switch triggers off for its session, and
the service works.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.e2e.fault_support import run_verify
from tests.fixtures.db import balance, stocked_product
from tests.fixtures.server import Shop, login, make_admin, make_kiosk, start_server


def _product(db_url: str, stock: int = 5) -> int:
    return stocked_product(db_url, stock, name="Guarded")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE inventory_snapshot SET current_stock = 500 WHERE product_id = %s",
        "UPDATE inventory_snapshot SET low_stock_flag = true WHERE product_id = %s",
        "UPDATE inventory_snapshot SET negative_flag = true WHERE product_id = %s",
        "DELETE FROM inventory_snapshot WHERE product_id = %s",
    ],
)
def test_the_snapshot_cannot_be_written_directly(fresh_db: str, statement: str) -> None:
    pid = _product(fresh_db)
    with psycopg.connect(fresh_db) as conn, pytest.raises(pgerrors.RestrictViolation):
        conn.execute(statement, (pid,))
    assert balance(fresh_db, pid) == (5, 5, 5)


def test_the_snapshot_cannot_be_truncated(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn, pytest.raises(pgerrors.RestrictViolation):
        conn.execute("TRUNCATE inventory_snapshot")


def test_the_ledger_path_and_the_tracking_toggle_still_write_the_snapshot(fresh_db: str) -> None:
    pid = _product(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        conn.execute(
            "INSERT INTO inventory_ledger (product_id, delta, source) VALUES (%s, -4, 'system')",
            (pid,),
        )
        conn.execute(
            "UPDATE inventory_snapshot SET tracking_enabled = false WHERE product_id = %s", (pid,)
        )
        row = conn.execute(
            "SELECT current_stock, low_stock_flag, tracking_enabled FROM inventory_snapshot"
            " WHERE product_id = %s",
            (pid,),
        ).fetchone()
    assert row == (1, True, False)


def test_a_reconciliation_beyond_32_bits_is_recorded(shop: Shop) -> None:
    p = shop.create_product(stock=0)
    with shop.admin() as c:
        for _ in range(3):  # stock driven far below zero: -3,000,000,000
            resp = c.post(
                f"/api/inventory/{p['id']}/adjustments",
                json={"delta": -1_000_000_000, "reason": "mis-keyed deliveries"},
            )
            assert resp.status_code == 201, resp.text
        resp = c.post(
            f"/api/inventory/{p['id']}/reconciliations",
            json={"counted_quantity": 1_000_000_000, "reason": "full count"},
        )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["entry"]["delta"] == 4_000_000_000
    assert body["snapshot"]["current_stock"] == 1_000_000_000
    assert balance(shop.db_url, p["id"]) == (1_000_000_000,) * 3


# ------------------------------------------------------------------ a role that owns nothing


@pytest.fixture
def service_role(fresh_db: str) -> Iterator[str]:
    """A login role with no privileges of its own; yields its URL for fresh_db."""
    role = f"svc_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    params: dict[str, Any] = conninfo_to_dict(fresh_db)
    params.update(user=role, password=password)
    try:
        yield make_conninfo(**params)
    finally:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def _migrate(service_url: str, owner_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stockline", "migrate"],
        env={
            **os.environ,
            "DATABASE_URL": service_url,
            "STOCKLINE_MIGRATE_DATABASE_URL": owner_url,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("UPDATE inventory_ledger SET delta = 100", pgerrors.InsufficientPrivilege),
        ("DELETE FROM inventory_ledger", pgerrors.InsufficientPrivilege),
        ("TRUNCATE inventory_ledger", pgerrors.InsufficientPrivilege),
        ("ALTER TABLE inventory_ledger DISABLE TRIGGER ALL", pgerrors.InsufficientPrivilege),
        ("ALTER TABLE inventory_snapshot DISABLE TRIGGER USER", pgerrors.InsufficientPrivilege),
        (
            "DROP TRIGGER inventory_ledger_no_update ON inventory_ledger",
            pgerrors.InsufficientPrivilege,
        ),
        ("SET session_replication_role = replica", pgerrors.InsufficientPrivilege),
        ("UPDATE inventory_snapshot SET current_stock = 500", pgerrors.RestrictViolation),
        ("UPDATE products SET stock_quantity = 500", pgerrors.RestrictViolation),
        ("DELETE FROM schema_migrations", pgerrors.InsufficientPrivilege),
    ],
)
def test_the_service_role_cannot_rewrite_history_or_switch_the_guards_off(
    fresh_db: str, service_role: str, statement: str, error: type[Exception]
) -> None:
    done = _migrate(service_role, fresh_db)
    assert done.returncode == 0, done.stderr
    pid = _product(fresh_db)
    with psycopg.connect(service_role) as conn, pytest.raises(error):
        conn.execute(statement)
    assert balance(fresh_db, pid) == (5, 5, 5)


def test_serve_as_a_role_that_owns_nothing_works(fresh_db: str, service_role: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'products'")
        row = owner.fetchone()
    assert row is not None and row[0] != conninfo_to_dict(service_role)["user"]
    server = start_server(service_role, env={"STOCKLINE_MIGRATE_DATABASE_URL": fresh_db})
    try:
        assert '"action": "migrate_grant"' in server.log_text()
        email, password = make_admin(fresh_db)
        shop = Shop(server, login(server, email, password), make_kiosk(fresh_db), email, password)
        p = shop.create_product(stock=5, threshold=2)
        with shop.kiosk() as c:
            resp = c.post(
                "/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 3}]}
            )
            assert resp.status_code == 201, resp.text
        with shop.admin() as c:
            resp = c.post(
                f"/api/inventory/{p['id']}/reconciliations",
                json={"counted_quantity": 9, "reason": "count"},
            )
            assert resp.status_code == 201, resp.text
            assert (
                c.put(f"/api/inventory/{p['id']}/tracking", json={"enabled": False}).status_code
                == 200
            )
        assert balance(fresh_db, p["id"]) == (9, 9, 9)
        with psycopg.connect(fresh_db) as conn:
            notes = conn.execute(
                "SELECT count(*) FROM email_notification_log WHERE product_id = %s", (p["id"],)
            ).fetchone()
        assert notes == (1,)  # the breach at 2, raised by triggers running as the service role
    finally:
        server.stop()
    verify = run_verify(service_role)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_what_the_service_role_can_still_forge_verify_reports(
    fresh_db: str, service_role: str
) -> None:
    # the guard's marker is a setting any session may set: a deliberate forger with the
    # service role's UPDATE privilege gets past it (docs/security.md), and verify says so
    done = _migrate(service_role, fresh_db)
    assert done.returncode == 0, done.stderr
    pid = _product(fresh_db)
    with psycopg.connect(service_role) as conn:
        conn.execute("SELECT set_config('stockline.snapshot_refresh', 'on', true)")
        conn.execute(
            "UPDATE inventory_snapshot SET current_stock = 500 WHERE product_id = %s", (pid,)
        )
    verify = run_verify(service_role)
    assert verify.returncode != 0
    assert str(pid) in verify.stdout + verify.stderr
