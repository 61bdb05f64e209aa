"""`stockline demo` on a fresh database: live movement, a breach, its mail and a restock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from stockline.demo import DEMO_EMAIL, RESTOCK_REASON, RESTOCKER_EMAIL
from tests.fixtures.server import FAST_ENV, free_port


def _scalar(db_url: str, query: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[call-overload]
    return int(row[0]) if row else 0


def _launch_demo(
    env: dict[str, str], port: int, simulate: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") if log else open(os.devnull, "wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stockline",
                "demo",
                "--port",
                str(port),
                "--simulate",
                simulate,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _demo_env(db_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    # a data directory of the test's own: the demo keeps its credentials there
    data_dir = str(tmp_path / "data")
    return {
        **os.environ,
        **FAST_ENV,
        "DATABASE_URL": db_url,
        "STOCKLINE_DATA_DIR": data_dir,
        **extra,
    }


def test_demo_shows_purchases_a_breach_its_mail_and_a_restock(
    fresh_db: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    env = _demo_env(fresh_db, tmp_path)
    env.pop("ADMIN_NOTIFICATION_EMAILS", None)
    env.pop("SMTP_HOST", None)
    proc = _launch_demo(env, port, "25", log)
    try:
        base = f"http://127.0.0.1:{port}"
        mail_api = False
        deadline = time.monotonic() + 90
        seen: dict[str, int] = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                paths = httpx.get(base + "/openapi.json", timeout=2).json()["paths"]
                mail_api = "/api/admin/mail" in paths
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            seen = {
                "purchases": _scalar(
                    fresh_db, "SELECT count(*) FROM inventory_ledger WHERE source = 'purchase'"
                ),
                "breaches": _scalar(
                    fresh_db,
                    "SELECT count(*) FROM inventory_events WHERE type = 'threshold-breach'",
                ),
                "restocks": _scalar(
                    fresh_db,
                    "SELECT count(*) FROM inventory_ledger l JOIN admins a ON a.id = l.admin_id"
                    f" WHERE source = 'manual_adjustment' AND reason = '{RESTOCK_REASON}'"
                    f" AND a.email = '{RESTOCKER_EMAIL}'",
                ),
                "cleared": _scalar(
                    fresh_db,
                    "SELECT count(*) FROM inventory_events WHERE type = 'threshold-cleared'",
                ),
                "mail": _scalar(fresh_db, "SELECT count(*) FROM captured_mail"),
            }
            if all(v > 0 for k, v in seen.items() if k != "mail" or mail_api):
                break
            time.sleep(0.5)
        assert all(v > 0 for k, v in seen.items() if k != "mail" or mail_api), seen
        with psycopg.connect(fresh_db) as conn:
            row = conn.execute(
                "SELECT value FROM system_config WHERE key = 'notification_recipients'"
            ).fetchone()
        assert row is not None and row[0] == [DEMO_EMAIL]
        by_person = _scalar(
            fresh_db,
            "SELECT count(*) FROM inventory_ledger l JOIN admins a ON a.id = l.admin_id"
            f" WHERE a.email = '{DEMO_EMAIL}'",
        )
        assert by_person == 0  # history tells the simulator from the human admin
        text = log.read_text()
        assert "admin portal" in text and "/kiosk" in text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_demo_simulation_can_be_switched_off(fresh_db: str, tmp_path: Path) -> None:
    port = free_port()
    proc = _launch_demo(_demo_env(fresh_db, tmp_path), port, "0")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        time.sleep(4)  # the simulator would have bought several times by now
        assert (
            _scalar(fresh_db, "SELECT count(*) FROM inventory_ledger WHERE source = 'purchase'")
            == 0
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def test_simulator_backs_off_with_a_warning_when_its_password_stops_working(
    fresh_db: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    env = _demo_env(fresh_db, tmp_path, STOCKLINE_LOGIN_MAX_FAILURES="5")
    proc = _launch_demo(env, port, "25", log)
    restocks = (
        "SELECT count(*) FROM inventory_ledger l JOIN admins a ON a.id = l.admin_id"
        f" WHERE a.email = '{RESTOCKER_EMAIL}'"
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _scalar(fresh_db, restocks) == 0:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.3)
        assert _scalar(fresh_db, restocks) > 0, log.read_text()[-3000:]
        # someone resets the restocker's password: its session ends, its password is stale
        reset = subprocess.run(
            [
                sys.executable,
                "-m",
                "stockline",
                "admin",
                "create",
                RESTOCKER_EMAIL,
                "--password-stdin",
            ],
            input="a brand new password\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert reset.returncode == 0, reset.stderr
        while time.monotonic() < deadline and "demo restocking credentials refused" not in (
            log.read_text()
        ):
            time.sleep(0.3)
        text = log.read_text()
        assert '"msg": "demo restocking credentials refused (HTTP 401); pausing 5 s"' in text, text[
            -3000:
        ]
        time.sleep(8)  # long enough for several retries at full speed
        failures = _scalar(fresh_db, "SELECT count(*) FROM login_failures")
        assert failures <= 2, failures
        # the login throttle never locks out the people: the demo admin still logs in
        creds = json.loads((tmp_path / "data" / "demo-credentials.json").read_text())
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login",
            json={"email": DEMO_EMAIL, "password": creds["admin_password"]},
        )
        assert login.status_code == 200
        # kiosk purchases go on meanwhile
        before = _scalar(fresh_db, "SELECT count(*) FROM transactions")
        time.sleep(1.5)
        assert _scalar(fresh_db, "SELECT count(*) FROM transactions") > before
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
