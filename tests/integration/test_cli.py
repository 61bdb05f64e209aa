"""The command line, run as an operator would."""

from __future__ import annotations

import subprocess
import sys

import httpx
import psycopg
import pytest

import stockline
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


def test_unreachable_database_is_one_line_naming_database_url(fresh_db: str) -> None:
    out = _run(["verify"], "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert out.returncode == 2
    assert out.stderr.startswith("stockline: DATABASE_URL: connection refused")
    assert "Traceback" not in out.stderr


def test_version_is_printed() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "stockline", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.strip() == f"stockline {stockline.__version__}"


def test_commands_print_their_result_and_log_lines_only_with_verbose(fresh_db: str) -> None:
    for command in (["migrate"], ["verify"], ["kiosk", "list"]):
        quiet = _run(command, fresh_db)
        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stderr == "" and quiet.stdout.strip(), quiet
        loud = _run(["-v", *command], fresh_db)
        assert '"msg": "using database"' in loud.stderr
        assert loud.stdout == quiet.stdout
    assert _run(["migrate"], fresh_db).stdout == "the schema is up to date\n"
    after = _run(["kiosk", "list", "--verbose"], fresh_db)
    assert '"msg": "using database"' in after.stderr


def test_kiosk_list_is_a_table_with_a_header(fresh_db: str) -> None:
    assert (
        _run(["kiosk", "list"], fresh_db).stdout == "no kiosks yet (stockline kiosk create NAME)\n"
    )
    for name in ("Front door", "Back office kiosk"):
        assert _run(["kiosk", "create", name], fresh_db).returncode == 0
    _run(["kiosk", "revoke", "1"], fresh_db)
    lines = _run(["kiosk", "list"], fresh_db).stdout.splitlines()
    assert lines[0].split() == ["ID", "STATE", "CREATED", "NAME"]
    assert lines[1].split()[:2] == ["1", "revoked"] and lines[1].endswith("Front door")
    assert lines[2].split()[:2] == ["2", "active"] and lines[2].endswith("Back office kiosk")
    # columns line up: every row's name starts where the header's NAME does
    column = lines[0].index("NAME")
    assert all(line[column - 2 : column] == "  " for line in lines[1:])


def test_kiosk_list_and_verify_do_not_migrate_a_database(pg_admin_url: str) -> None:
    from tests.fixtures.postgres import create_database, drop_database, with_dbname

    name = create_database(pg_admin_url)  # empty: no schema at all
    try:
        url = with_dbname(pg_admin_url, name)
        for command in (["kiosk", "list"], ["verify"]):
            out = _run(command, url)
            assert out.returncode == 2
            assert "no stockline schema yet; run `stockline migrate`" in out.stderr
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()
        assert tables == (0,)
    finally:
        drop_database(pg_admin_url, name)


def test_verify_counts_products_not_ids(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        # a gap in the ids, as deleted test rows or a failed insert leave
        conn.execute("SELECT setval('products_id_seq', 100)")
        for i in range(9):
            conn.execute(
                "INSERT INTO products (sku, name, price_cents) VALUES (%s, 'p', 1)", (f"G{i}",)
            )
            if i == 4:
                conn.execute("SELECT setval('products_id_seq', 500)")
    out = _run(["verify", "--progress"], fresh_db)
    assert out.returncode == 0
    assert "verifying products: 9/9 (100%)" in out.stderr
    assert out.stdout.startswith("verify: ok, 9 products checked")


def test_verify_help_says_what_is_checked_in_plain_words() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "stockline", "verify", "--help"], capture_output=True, text=True
    )
    assert "S-1" not in out.stdout
    assert "SUM(inventory_ledger.delta)" in out.stdout


def test_logs_are_text_on_a_terminal_and_json_when_piped(fresh_db: str) -> None:
    import os
    import pty

    def stderr_of(env: dict[str, str], tty: bool) -> str:
        full = {"DATABASE_URL": fresh_db, "PATH": "/usr/bin:/bin", **env}
        if not tty:
            return _run(["-v", "kiosk", "list"], fresh_db).stderr
        leader, follower = pty.openpty()
        proc = subprocess.run(
            [sys.executable, "-m", "stockline", "-v", "kiosk", "list"],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=follower,
            timeout=120,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.close(leader)
        assert proc.returncode == 0
        return b"".join(chunks).decode()

    on_terminal = stderr_of({}, tty=True)
    assert "INFO    stockline.cli: using database  action=database mode=external" in on_terminal
    assert "{" not in on_terminal
    piped = stderr_of({}, tty=False)
    assert piped.startswith('{"ts": ')
    forced = stderr_of({"STOCKLINE_LOG_FORMAT": "json"}, tty=True)
    assert forced.lstrip().startswith('{"ts": ')
