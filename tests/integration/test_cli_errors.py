"""Every common operator mistake ends in one plain line naming the setting, and exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.postgres import with_dbname
from tests.fixtures.restartable_pg import RestartablePostgres


def _run(
    args: list[str], env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stockline", *args],
        input=stdin,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_one_line(out: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert out.stdout == ""
    line = lines[0]
    assert "Traceback" not in line and "pydantic" not in line and "https://" not in line
    for needle in needles:
        assert needle in line, line
    return line


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://shop:s3cr3t-pw@db.example:notaport/shop", "port 'notaport'"),
        ("host=db.example port=5432 s3cr3t-pw", 'missing "="'),
        ("mysql://shop:s3cr3t-pw@db.example/shop", "scheme 'mysql'"),
    ],
    ids=["bad-port", "not-conninfo", "wrong-scheme"],
)
def test_malformed_database_url_names_it_and_hides_the_password(url: str, reason: str) -> None:
    line = _assert_one_line(_run(["verify"], {"DATABASE_URL": url}), "DATABASE_URL", reason)
    assert "malformed" in line
    assert "s3cr3t-pw" not in line


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nobody listens once this socket is closed


def test_refused_database_connection_is_one_line() -> None:
    url = f"postgresql://shop:pw@127.0.0.1:{_closed_port()}/shop"
    for command in (["verify"], ["migrate"], ["kiosk", "list"]):
        _assert_one_line(_run(command, {"DATABASE_URL": url}), "DATABASE_URL", "refused")


def test_missing_database_is_named(fresh_db: str) -> None:
    url = with_dbname(fresh_db, "no_such_shop")
    _assert_one_line(
        _run(["migrate"], {"DATABASE_URL": url}), "DATABASE_URL", "'no_such_shop' does not exist"
    )


def test_unknown_role_is_an_authentication_failure(fresh_db: str) -> None:
    params = psycopg.conninfo.conninfo_to_dict(fresh_db)
    params["user"] = "nobody_here"
    url = psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]
    _assert_one_line(
        _run(["verify"], {"DATABASE_URL": url}), "DATABASE_URL", "authentication failed"
    )


def test_wrong_password_is_an_authentication_failure(own_postgres: RestartablePostgres) -> None:
    # a server of this test's own, made to demand a password from one role
    with psycopg.connect(own_postgres.url, autocommit=True) as conn:
        conn.execute("CREATE ROLE pw_user LOGIN PASSWORD 'the-right-one'")
        row = conn.execute("SHOW hba_file").fetchone()
        assert row is not None
        hba = Path(row[0])
        hba.write_text("local all pw_user scram-sha-256\n" + hba.read_text())
        conn.execute("SELECT pg_reload_conf()")
    params = psycopg.conninfo.conninfo_to_dict(own_postgres.url)
    params.update(user="pw_user", password="the-wrong-one")
    url = psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]
    line = _assert_one_line(
        _run(["verify"], {"DATABASE_URL": url}),
        "DATABASE_URL",
        "authentication failed for user 'pw_user'",
    )
    assert "the-wrong-one" not in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["serve", "--port", "99999"], "--port: 99999 is not a port"),
        (["serve", "--port", "0"], "--port: 0 is not a port"),
        (["serve", "--workers", "0"], "--workers: 0 processes"),
        (["demo", "--workers", "-2"], "--workers: -2 processes"),
        (["demo", "--port", "eighty"], "--port: 'eighty' is not a port number"),
    ],
)
def test_impossible_options_are_refused_before_anything_starts(
    args: list[str], needle: str
) -> None:
    _assert_one_line(_run(args, {"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}), needle)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("", "at least one delay"),
        (" , ", "at least one delay"),
        ("60,soon,900", "comma-separated seconds"),
        ("60,-1", "between 0 and 10^9"),
        ("nan", "between 0 and 10^9"),
    ],
)
def test_a_bad_retry_schedule_is_one_line(value: str, needle: str) -> None:
    out = _run(["verify"], {"STOCKLINE_RETRY_SCHEDULE": value})
    _assert_one_line(out, "STOCKLINE_RETRY_SCHEDULE", needle)


def test_a_bad_setting_never_echoes_a_secret() -> None:
    out = _run(
        ["verify"],
        {"SMTP_PORT": "lots", "STOCKLINE_LOG_FORMAT": "xml", "SMTP_PASSWORD": "pw-123"},
    )
    line = _assert_one_line(out, "SMTP_PORT", "STOCKLINE_LOG_FORMAT", "auto, json, text")
    assert "pw-123" not in line


def test_admin_create_without_a_terminal_says_to_use_password_stdin() -> None:
    out = _run(
        ["admin", "create", "owner@shop.example.com"],
        {"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"},
        stdin="",
    )
    _assert_one_line(out, "--password-stdin", "no terminal")


def test_serve_and_demo_refuse_a_port_in_use_before_printing_a_banner(fresh_db: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for command in ("serve", "demo"):
            out = _run([command, "--port", port], {"DATABASE_URL": fresh_db})
            _assert_one_line(out, f"--port {port}", "already in use")
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute("SELECT count(*) FROM admins").fetchone()
    assert row == (0,)  # the demo stopped before making its admin
