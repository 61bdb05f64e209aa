"""A whole working day, then a grep: no secret appears in any log line or response body.

Secrets: the SMTP password (with which the mail worker really authenticates to a real
aiosmtpd), the admin password (set through the CLI), the admin bearer and cookie session
tokens, the kiosk tokens (one from the CLI, one paired by cookie) and the stored argon2
hash. The server runs at DEBUG so every logger has its say.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from tests.e2e.alerts_support import wait_until
from tests.fixtures.server import start_server
from tests.fixtures.smtp import SmtpServer


@dataclass
class Seen:
    method: str
    path: str
    status: int
    body: str


def _cli(
    args: list[str], db_url: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stockline", *args],
        input=stdin,
        env={**os.environ, "DATABASE_URL": db_url, "STOCKLINE_LOG_LEVEL": "DEBUG"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_no_secret_reaches_a_log_line_or_a_response_body(fresh_db: str, smtp: SmtpServer) -> None:
    marker = uuid.uuid4().hex
    smtp_user = f"smtp-user-{marker}"
    smtp_password = f"smtp-pw-{marker}"
    admin_email = f"owner-{marker[:8]}@shop.example.com"
    admin_password = f"admin-pw-{marker}"
    seen: list[Seen] = []
    cli_output: list[str] = []

    def record(resp: httpx.Response) -> None:
        resp.read()
        seen.append(Seen(resp.request.method, resp.request.url.path, resp.status_code, resp.text))

    # the operator's side: admin and kiosk made with the CLI
    made = _cli(["admin", "create", admin_email, "--password-stdin"], fresh_db, admin_password)
    assert made.returncode == 0, made.stderr
    cli_output += [made.stdout, made.stderr]
    kiosk = _cli(["kiosk", "create", "front till"], fresh_db)
    assert kiosk.returncode == 0, kiosk.stderr
    kiosk_token = kiosk.stdout.strip()  # printed once, on purpose: the only place it shows
    cli_output.append(kiosk.stderr)
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute("SELECT password_hash FROM admins").fetchone()
    assert row is not None
    stored_hash = row[0]

    smtp.reset("451")  # the first delivery fails transiently, the retry goes through
    server = start_server(
        fresh_db,
        workers=2,
        env={
            **smtp.env(SMTP_USER=smtp_user, SMTP_PASSWORD=smtp_password),
            "STOCKLINE_LOG_LEVEL": "DEBUG",
            "STOCKLINE_LOGIN_MAX_FAILURES": "3",
        },
    )
    hooks = {"response": [record]}
    try:
        with httpx.Client(base_url=server.url, event_hooks=hooks, timeout=30) as anon:
            # a failed login
            assert (
                anon.post(
                    "/api/auth/login", json={"email": admin_email, "password": "not it"}
                ).status_code
                == 401
            )
            # a password typed into the wrong place must not be echoed by a 422
            bad = anon.post("/api/auth/login", json={"email": [admin_password], "password": 1})
            assert bad.status_code == 422
            bad = anon.post(
                "/api/auth/login", json={"email": admin_email, "password": [admin_password]}
            )
            assert bad.status_code == 422
            bad = anon.post("/api/auth/kiosk", json={"token": [kiosk_token]})
            assert bad.status_code == 422
            login = anon.post(
                "/api/auth/login", json={"email": admin_email, "password": admin_password}
            )
            assert login.status_code == 200, login.text
            admin_token = login.json()["access_token"]
        login_bodies = {id(seen[-1])}

        with httpx.Client(
            base_url=server.url,
            event_hooks=hooks,
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=30,
        ) as admin:
            config = admin.put(
                "/api/admin/config",
                json={
                    "notification_recipients": ["staff@shop.example.com"],
                    "inventory_tracking_enabled": True,
                },
            )
            assert config.status_code == 200, config.text
            assert config.json()["smtp"]["configured"] is True
            product = admin.post(
                "/api/products",
                json={
                    "sku": f"SKU-{marker[:6]}",
                    "name": "Cola",
                    "price_cents": 150,
                    "low_stock_threshold": 2,
                    "initial_stock": 4,
                },
            ).json()
            pid = product["id"]

            with httpx.Client(
                base_url=server.url,
                event_hooks=hooks,
                headers={"Authorization": f"Bearer {kiosk_token}"},
                timeout=30,
            ) as till:
                for _ in range(2):
                    buy = till.post(
                        "/api/purchases",
                        json={"items": [{"product_id": pid, "quantity": 1}]},
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                    )
                    assert buy.status_code == 201, buy.text
                till.get("/api/products")
                till.get(f"/api/inventory/{pid}")
                till.get("/api/admin/config")  # 403

            # the breach is mailed, through SMTP AUTH with the password, after one retry
            wait_until(lambda: smtp.accepted(), timeout=20, what="the breach mail")
            assert (smtp_user, smtp_password) in smtp.handler.logins

            admin.post(f"/api/inventory/{pid}/adjustments", json={"delta": 5, "reason": "restock"})
            admin.get("/api/admin/config")
            notes = admin.get("/api/admin/notifications").json()["items"]
            assert notes
            for n in notes:
                admin.get(f"/api/admin/notifications/{n['id']}")
            admin.get("/api/admin/notifications/stats")
            admin.get("/api/admin/mail")
            admin.get("/api/inventory/ledger.csv")
            admin.get(f"/api/inventory/{pid}/ledger")
            admin.get("/api/auth/me")
            admin.get("/healthz")
            admin.get("/metrics")
            admin.get("/openapi.json")

        # a browser: cookie login, a cookie write with CSRF, a kiosk paired by cookie
        with httpx.Client(base_url=server.url, event_hooks=hooks, timeout=30) as browser:
            cookie_login = browser.post(
                "/api/auth/login", json={"email": admin_email, "password": admin_password}
            )
            assert cookie_login.status_code == 200
            login_bodies.add(id(seen[-1]))
            session_token = browser.cookies["stockline_session"]
            csrf = cookie_login.json()["csrf_token"]
            assert (
                browser.patch(
                    f"/api/products/{pid}",
                    json={"name": "Cola Zero"},
                    headers={"X-CSRF-Token": csrf},
                ).status_code
                == 200
            )
            assert (
                browser.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
            )
        paired_token = _cli(["kiosk", "create", "back till"], fresh_db).stdout.strip()
        with httpx.Client(base_url=server.url, event_hooks=hooks, timeout=30) as tablet:
            assert tablet.post("/api/auth/kiosk", json={"token": paired_token}).status_code == 204
            assert tablet.get("/api/products").status_code == 200
        with httpx.Client(base_url=server.url, event_hooks=hooks, timeout=30) as anon:
            for _ in range(4):  # three failures, then the throttle
                anon.post("/api/auth/login", json={"email": admin_email, "password": "guess"})
            assert seen[-1].status == 429
    finally:
        server.stop()
    log = server.log_text()

    assert len(seen) >= 30
    secrets = {
        "SMTP password": smtp_password,
        "SMTP AUTH PLAIN": base64.b64encode(f"\0{smtp_user}\0{smtp_password}".encode()).decode(),
        "SMTP AUTH LOGIN password": base64.b64encode(smtp_password.encode()).decode(),
        "admin password": admin_password,
        "admin bearer token": admin_token,
        "admin cookie session": session_token,
        "kiosk token (CLI)": kiosk_token,
        "kiosk token (paired by cookie)": paired_token,
        "stored argon2 hash": stored_hash,
        "argon2 hash digest": stored_hash.rsplit("$", 1)[-1],
    }
    for name, secret in secrets.items():
        assert secret not in log, f"{name} is in the server log"
        for text in cli_output:
            assert secret not in text, f"{name} is in the CLI's output"
        for answer in seen:
            if id(answer) in login_bodies and name in (
                "admin bearer token",
                "admin cookie session",
            ):
                continue  # the login answer is where a token is handed over
            assert secret not in answer.body, f"{name} in {answer.method} {answer.path}"
    # and the mail itself carries none either
    for mail in smtp.received():
        text = mail.message.as_string()
        for name, secret in secrets.items():
            assert secret not in text, f"{name} in the mail"
    # the log did record the day (so the grep looked at something)
    assert '"notification_attempt_failed"' in log and "instance_started" in log
