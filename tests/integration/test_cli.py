"""The command line, run as an operator would."""

from __future__ import annotations

import subprocess
import sys

import httpx
import psycopg
import pytest

from tests.fixtures.server import start_server

COMMANDS = [
    ["serve"],
    ["migrate"],
    ["admin", "create"],
    ["kiosk", "create"],
    ["verify"],
    ["demo"],
    [],
]


def _run(
    args: list[str], db_url: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stockline", *args],
        input=stdin,
        env={"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_every_command_has_help(command: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "stockline", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert "usage: stockline" in out.stdout


def test_admin_create_reads_password_from_stdin_and_can_log_in(fresh_db: str) -> None:
    out = _run(
        ["admin", "create", "Owner@Shop.example.com", "--password-stdin"],
        fresh_db,
        stdin="a long secret pw\n",
    )
    assert out.returncode == 0, out.stderr
    assert "a long secret pw" not in out.stdout + out.stderr
    server = start_server(fresh_db)
    try:
        resp = httpx.post(
            server.url + "/api/auth/login",
            json={"email": "owner@shop.example.com", "password": "a long secret pw"},
        )
        assert resp.status_code == 200
    finally:
        server.stop()


def test_admin_create_refuses_a_short_password(fresh_db: str) -> None:
    out = _run(
        ["admin", "create", "a@shop.example.com", "--password-stdin"], fresh_db, stdin="short\n"
    )
    assert out.returncode == 2


def test_kiosk_create_prints_a_token_stored_only_as_hash(fresh_db: str) -> None:
    out = _run(["kiosk", "create", "Front door"], fresh_db)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("kiosk_")
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("SELECT name, token_hash FROM kiosks").fetchall()
    assert [r[0] for r in rows] == ["Front door"]
    assert token.encode() not in bytes(rows[0][1])


def test_verify_passes_on_a_balanced_shop_and_fails_listing_a_mismatch(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        conn.execute("INSERT INTO products (sku, name, price_cents) VALUES ('V1', 'v', 1)")
        conn.execute(
            "INSERT INTO inventory_ledger (product_id, delta, source)"
            " SELECT id, 5, 'system' FROM products WHERE sku = 'V1'"
        )
    ok = _run(["verify"], fresh_db)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    with psycopg.connect(fresh_db) as conn:
        # simulate corruption behind the triggers' back
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE inventory_snapshot SET current_stock = 4")
    bad = _run(["verify"], fresh_db)
    assert bad.returncode == 1
    assert "V1" in bad.stdout and "snapshot.current_stock=4" in bad.stdout


def test_verify_shows_progress_when_asked(fresh_db: str) -> None:
    out = _run(["verify", "--progress"], fresh_db)
    assert out.returncode == 0
    with psycopg.connect(fresh_db) as conn:
        conn.execute("INSERT INTO products (sku, name, price_cents) VALUES ('P1', 'p', 1)")
    out = _run(["verify", "--progress"], fresh_db)
    assert "verifying products: 1/1 (100%)" in out.stderr


def test_unreachable_database_is_a_clear_error(fresh_db: str) -> None:
    out = _run(["verify"], "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert out.returncode == 3
    assert "cannot reach the database" in out.stderr
    assert "Traceback" not in out.stderr
