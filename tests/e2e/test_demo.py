"""`stockline demo` on a fresh database: live movement, a breach, its mail and a restock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from stockline.demo import DEMO_EMAIL, RESTOCK_REASON
from tests.fixtures.server import FAST_ENV, free_port


def _scalar(db_url: str, query: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[call-overload]
    return int(row[0]) if row else 0


def test_demo_shows_purchases_a_breach_its_mail_and_a_restock(fresh_db: str) -> None:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="stockline-demo-", suffix=".log")[1])
    env = {**os.environ, **FAST_ENV, "DATABASE_URL": fresh_db}
    env.pop("ADMIN_NOTIFICATION_EMAILS", None)
    env.pop("SMTP_HOST", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stockline", "demo", "--port", str(port), "--simulate", "25"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
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
                    "SELECT count(*) FROM inventory_ledger WHERE source = 'manual_adjustment' "
                    f"AND reason = '{RESTOCK_REASON}' AND admin_id IS NOT NULL",
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


def test_demo_simulation_can_be_switched_off(fresh_db: str) -> None:
    port = free_port()
    env = {**os.environ, **FAST_ENV, "DATABASE_URL": fresh_db}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stockline", "demo", "--port", str(port), "--simulate", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
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
